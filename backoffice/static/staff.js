// The staff desk without reloading: the handoff queue, and a handed-over conversation's
// new messages, asked for every few seconds.
(function () {
  const SENDERS = {citizen: "市民", assistant: "智能助手", staff: "工作人员"};

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  async function refreshQueue(body) {
    const res = await fetch("/staff/handoffs.json");
    if (!res.ok) return;
    const rows = await res.json();
    body.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      cell(tr, "现在没有等待转人工的会话。").colSpan = 6;
      body.appendChild(tr);
    }
    rows.forEach(function (r) {
      const tr = document.createElement("tr");
      tr.dataset.id = r.id;
      cell(tr, r.waiting_minutes + " 分钟");
      cell(tr, r.channel);
      cell(tr, r.reason);
      const link = document.createElement("a");
      link.href = "/staff/handoffs/" + r.id;
      link.textContent = r.conversation;
      cell(tr, "").appendChild(link);
      cell(tr, r.last_turns.join("\n")).style.whiteSpace = "pre-wrap";
      cell(tr, r.claimed_by || "—");
      body.appendChild(tr);
    });
  }

  async function refreshDesk(list) {
    const res = await fetch("/staff/handoffs/" + list.dataset.handoff + "/messages.json?after=" + list.dataset.after);
    if (!res.ok) return;
    (await res.json()).forEach(function (m) {
      const li = document.createElement("li");
      li.className = m.sender;
      li.textContent = SENDERS[m.sender] + "：" + m.text;
      if (m.photo) {
        const img = document.createElement("img");
        img.src = m.photo;
        img.alt = "市民发来的照片";
        img.style.maxWidth = "24rem";
        li.appendChild(document.createElement("br"));
        li.appendChild(img);
      }
      list.appendChild(li);
      list.dataset.after = m.id;
    });
  }

  const queue = document.querySelector("#queue tbody");
  const desk = document.getElementById("desk");
  setInterval(function () {
    if (queue) refreshQueue(queue).catch(function () {});
    if (desk) refreshDesk(desk).catch(function () {});
  }, 3000);
})();
