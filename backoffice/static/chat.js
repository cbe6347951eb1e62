// Web chat: one conversation per browser (id kept in localStorage), no time pressure.
// On any failure the text stays in the box so nothing the citizen wrote is lost.
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("send");
  const box = document.getElementById("text");
  const error = document.getElementById("error");
  const bigger = document.getElementById("bigger");

  let id = localStorage.getItem("lw-conversation");
  if (!id) {
    id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9]/g, "");
    localStorage.setItem("lw-conversation", id);
  }
  if (localStorage.getItem("lw-big") === "1") document.body.classList.add("big");
  bigger.setAttribute("aria-pressed", document.body.classList.contains("big"));
  bigger.addEventListener("click", function () {
    const on = document.body.classList.toggle("big");
    localStorage.setItem("lw-big", on ? "1" : "0");
    bigger.setAttribute("aria-pressed", on);
  });

  // Who said it, in words as well as colour and side (staff replies name themselves).
  const SPEAKERS = {user: "您：", bot: "助手："};
  // ``speech``: the reply in the pieces the server speaks, each signed (chat-voice.js).
  function add(who, text, buttons, speech) {
    const li = document.createElement("li");
    li.className = who;
    if (SPEAKERS[who]) {
      const label = document.createElement("span");
      label.className = "who";
      label.textContent = SPEAKERS[who];
      li.appendChild(label);
    }
    li.appendChild(document.createTextNode(text || ""));
    if (buttons && buttons.length) {
      const taps = document.createElement("div");
      taps.className = "taps";
      buttons.forEach(function (b) {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.title;
        btn.addEventListener("click", function () {
          if (b.payload === SHARE_LOCATION) shareLocation(); else send(b.title, b.payload);
        });
        taps.appendChild(btn);
      });
      li.appendChild(taps);
    }
    if (speech && speech.length && window.lwVoice) window.lwVoice.offerReplay(li, text, speech);
    log.appendChild(li);
    li.scrollIntoView();
    return li;
  }

  // What the assistant answered a turn (typed, tapped or spoken); ``spoken``: read it
  // aloud whatever the 朗读 setting (the citizen spoke).
  function showReply(body, spoken) {
    const items = body.messages.map(function (m) { return add("bot", m.text, m.buttons, m.speech); });
    if (window.lwVoice) window.lwVoice.readAloud(items, spoken);
    if (body.with_staff) waitForStaff();
  }

  // 发送我的位置: the browser is asked where it is (it asks the citizen first), and that is
  // sent as the place, as a location shared on Telegram.
  const SHARE_LOCATION = "/share_location";
  function shareLocation() {
    error.textContent = "";
    if (!navigator.geolocation) { error.textContent = NO_LOCATION; return; }
    navigator.geolocation.getCurrentPosition(
      function (p) { send(LOCATION_TEXT, null, {lat: p.coords.latitude, long: p.coords.longitude}); },
      function () { error.textContent = NO_LOCATION; },
      {enableHighAccuracy: true, timeout: 20000},
    );
  }
  const NO_LOCATION = "没能取得您的位置。请把地址打出来，或者按“说话”说出来。";
  const LOCATION_TEXT = "我的位置"; // as Telegram's shared location is written (the domain's)

  // ``shown``: what the citizen sees they sent (none for the greeting a new page asks for).
  async function send(shown, payload, location) {
    error.textContent = "";
    if (shown) add("user", shown);
    try {
      const res = await fetch("/api/chat", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({conversation_id: id, text: payload || shown, location: location || null}),
      });
      const body = await res.json();
      if (!res.ok) {
        error.textContent = typeof body.detail === "string" ? body.detail : "发送失败，请再试一次。";
        return false;
      }
      showReply(body, false);
      return true;
    } catch (e) {
      error.textContent = "网络断了。您写的话还在输入框里，请稍后再发一次。";
      return false;
    }
  }

  // While a person holds (or is about to take) the conversation, ask every few seconds
  // for what they wrote; the id of the last message seen is kept, so a reload shows
  // nothing twice.
  let polling = false;
  let seen = Number(localStorage.getItem("lw-desk-seen") || "0");
  async function waitForStaff() {
    if (polling) return;
    polling = true;
    while (polling) {
      await new Promise(function (done) { setTimeout(done, 3000); });
      try {
        const res = await fetch("/api/chat/updates?conversation_id=" + encodeURIComponent(id) + "&after=" + seen);
        if (!res.ok) continue;
        const body = await res.json();
        body.messages.forEach(function (m) {
          add(m.sender === "staff" ? "staff" : "bot", m.text);
          seen = Math.max(seen, m.id);
        });
        localStorage.setItem("lw-desk-seen", String(seen));
        polling = body.with_staff;
      } catch (e) { /* the network is back later; keep asking */ }
    }
  }
  // A reload shows the conversation so far, and picks up a handoff in progress.
  const CLASSES = {citizen: "user", assistant: "bot", staff: "staff"};
  (async function restore() {
    try {
      const res = await fetch("/api/chat/history?conversation_id=" + encodeURIComponent(id));
      const body = res.ok ? await res.json() : {messages: [], after: 0, with_staff: false};
      // A new conversation opens with the assistant's greeting and its three choices, so
      // nobody has to know what to type first.
      if (!body.messages.length) { send(null, "/greet"); return; }
      body.messages.forEach(function (m) { add(CLASSES[m.who] || "bot", m.text, null, m.speech); });
      seen = Math.max(seen, body.after);
      if (body.with_staff) waitForStaff();
    } catch (e) { /* a new page without its history is still a working page */ }
  })();

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const text = box.value.trim();
    if (!text) return;
    if (await send(text)) box.value = "";
  });
  document.querySelectorAll("[data-say]").forEach(function (b) {
    b.addEventListener("click", function () { send(b.dataset.say); });
  });
  window.lwChat = {id: id, add: add, showReply: showReply, error: error};
})();
