// The web chat by voice (loaded only when the server can hear and speak).
// Press-to-talk: one press starts, a second press (or two seconds of quiet after speaking)
// stops; the microphone's sound goes as it is spoken over a WebSocket to the server's
// speech-to-text, which sends back what it heard (shown as the citizen's message) and the
// assistant's reply. Replies can be heard: each has a 再听一遍 button, and 朗读回复 reads
// every reply aloud (a spoken turn's reply is always read aloud).
(function () {
  const MAX_S = 60;          // the button stops itself; the server has its own limit too
  const QUIET_S = 2;         // this long quiet after speech ends the turn
  const SPEAKING_RMS = 0.02; // louder than this is speech (a tenth of a second at a time)
  const KEPT_AUDIO = 30;     // spoken replies kept for 再听一遍 (least recent dropped)

  const chat = function () { return window.lwChat; };
  const status = function (text) { document.getElementById("status").textContent = text; };

  // --- hearing replies --------------------------------------------------------------
  let readAloudOn = localStorage.getItem("lw-read-aloud") === "1";
  const clips = new Map(); // signature -> promise of the object URL of its WAV
  const player = new Audio();
  let queue = [];
  let playing = false;

  function clipFor(piece) {
    if (!clips.has(piece.signature)) {
      clips.set(piece.signature, fetch("/api/chat/speech", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({text: piece.text, signature: piece.signature}),
      }).then(function (res) {
        if (!res.ok) throw new Error("speech " + res.status);
        return res.blob();
      }).then(function (wav) { return URL.createObjectURL(wav); }));
      if (clips.size > KEPT_AUDIO) {
        const oldest = clips.keys().next().value;
        clips.get(oldest).then(URL.revokeObjectURL, function () {});
        clips.delete(oldest);
      }
    }
    return clips.get(piece.signature);
  }

  // One piece (a sentence or two) at a time; the next is asked for while this one plays.
  async function playNext() {
    if (playing || !queue.length) return;
    playing = true;
    const item = queue.shift();
    try {
      player.src = await clipFor(item.piece);
      if (queue.length) clipFor(queue[0].piece).catch(function () {});
      item.li.dataset.spoken = "playing";
      player.onended = function () {
        if (item.last) item.li.dataset.spoken = "played";
        playing = false;
        playNext();
      };
      await player.play();
    } catch (e) {
      clips.delete(item.piece.signature); // asked again next time, not failed for good
      item.li.dataset.spoken = "failed";
      status("这句暂时念不出来，请看文字。");
      playing = false;
      playNext();
    }
  }

  function say(li) {
    const pieces = li.lwPieces || [];
    pieces.forEach(function (piece, n) {
      queue.push({li: li, piece: piece, last: n === pieces.length - 1});
    });
    playNext();
  }

  function hush() {
    queue = [];
    player.pause();
    playing = false;
  }

  window.lwVoice = {
    offerReplay: function (li, text, pieces) {
      li.lwPieces = pieces;
      li.dataset.speech = "1";
      const again = document.createElement("button");
      again.type = "button";
      again.className = "replay";
      again.textContent = "再听一遍";
      again.setAttribute("aria-label", "再听一遍：" + text.slice(0, 20));
      again.addEventListener("click", function () {
        hush();
        say(li);
      });
      li.appendChild(again);
    },
    readAloud: function (items, spoken) {
      if (!spoken && !readAloudOn) return;
      items.forEach(function (li) { if (li.lwPieces) say(li); });
    },
  };

  // --- press-to-talk ----------------------------------------------------------------
  let talking = null;

  async function start(button) {
    const c = chat();
    c.error.textContent = "";
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1, echoCancellation: true, noiseSuppression: true}});
    } catch (e) {
      c.error.textContent = "打不开麦克风。请允许这个网页使用麦克风，或者直接打字。";
      return;
    }
    hush();
    const context = new AudioContext({sampleRate: 16000});
    await context.audioWorklet.addModule("/static/pcm-capture.js");
    const source = context.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(context, "pcm-capture");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/api/chat/voice?conversation_id=" +
      encodeURIComponent(c.id) + "&rate=" + context.sampleRate);
    const turn = {stream: stream, context: context, source: source, capture: capture,
                  socket: socket, waiting: [], spoke: false, quietFor: 0, startedAt: Date.now()};
    talking = turn;
    socket.onopen = function () { turn.waiting.splice(0).forEach(function (piece) { socket.send(piece); }); };
    capture.port.onmessage = function (ev) {
      if (talking !== turn) return;
      if (socket.readyState === WebSocket.OPEN) socket.send(ev.data.pcm); else turn.waiting.push(ev.data.pcm);
      if (ev.data.rms > SPEAKING_RMS) { turn.spoke = true; turn.quietFor = 0; } else if (turn.spoke) turn.quietFor += 0.1;
      if ((turn.spoke && turn.quietFor >= QUIET_S) || Date.now() - turn.startedAt > MAX_S * 1000) stop(button);
    };
    socket.onmessage = function (ev) { answer(JSON.parse(ev.data), button); };
    socket.onerror = function () { c.error.textContent = "网络断了，没有听到。请再说一遍，或者直接打字。"; ready(button); };
    socket.onclose = function () { if (button.disabled) ready(button); };
    source.connect(capture);
    capture.connect(context.destination); // the worklet writes no sound: this only keeps it running
    button.setAttribute("aria-pressed", "true");
    button.textContent = "说完了，按这里";
    status("正在听，请说话。");
  }

  function stop(button) {
    const turn = talking;
    if (!turn) return;
    talking = null;
    turn.source.disconnect();
    turn.capture.disconnect();
    turn.stream.getTracks().forEach(function (t) { t.stop(); });
    turn.context.close();
    const end = function () { turn.socket.send("end"); };
    if (turn.socket.readyState === WebSocket.OPEN) end(); else turn.socket.addEventListener("open", end);
    button.setAttribute("aria-pressed", "false");
    button.disabled = true;
    button.textContent = "正在听您说的话…";
    status("正在听您说的话…");
  }

  function answer(message, button) {
    const c = chat();
    if (message.heard) {
      c.add("user", message.heard);
      status("");
    } else if (message.reply) {
      c.showReply(message.reply, true);
      ready(button);
    } else if (message.error) {
      c.error.textContent = message.error;
      ready(button);
    }
  }

  function ready(button) {
    button.disabled = false;
    button.setAttribute("aria-pressed", "false");
    button.textContent = "按一下，说话";
    status("");
  }

  document.addEventListener("DOMContentLoaded", function () {
    const talk = document.getElementById("talk");
    const aloud = document.getElementById("read-aloud");
    if (talk) talk.addEventListener("click", function () { if (talking) stop(talk); else start(talk); });
    if (aloud) {
      aloud.setAttribute("aria-pressed", readAloudOn);
      aloud.addEventListener("click", function () {
        readAloudOn = !readAloudOn;
        localStorage.setItem("lw-read-aloud", readAloudOn ? "1" : "0");
        aloud.setAttribute("aria-pressed", readAloudOn);
        if (!readAloudOn) hush();
      });
    }
  });
})();
