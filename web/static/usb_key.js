// USB-key login and registration (ACC-3): get a challenge from the server, have the device agent
// on this PC sign it with the USB key, put the signature into the form and send it.
// The agent's pairing code and the call itself: agent.js.
(function () {
  "use strict";
  var agent = window.shimingAgent, storedToken = agent.storedToken, keepToken = agent.keepToken;

  function setUp(form) {
    var messages = JSON.parse(form.getAttribute("data-messages"));
    var box = form.querySelector("[data-usb-key-message]");
    var tokenInput = form.querySelector("[data-agent-token]");
    var button = form.querySelector("button[type=submit]");
    if (tokenInput && storedToken()) {
      tokenInput.closest("[data-field]").hidden = true;
    }

    function say(key) {
      box.textContent = messages[key] || messages.agent_failed;
      box.hidden = false;
      box.setAttribute("data-code", key);
      button.disabled = false;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      box.hidden = true;
      var typed = tokenInput ? tokenInput.value.trim() : "";
      if (typed) { keepToken(typed); }
      var token = typed || storedToken();
      if (!token) {
        if (tokenInput) { tokenInput.closest("[data-field]").hidden = false; }
        say("agent.not_paired");
        return;
      }
      button.disabled = true;
      var csrf = form.querySelector("input[name$=csrf_token]");
      fetch(form.getAttribute("data-challenge-url"), {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : ""}, body: "{}"
      }).then(function (response) {
        if (!response.ok) { throw new Error("server"); }
        return response.json();
      }).then(function (issued) {
        return agent.post(form.getAttribute("data-agent-url"), "/usb-key/sign", token, {challenge: issued.challenge})
          .then(function (answer) { answer.challenge = issued.challenge; return answer; });
      }).then(function (answer) {
        if (!answer.ok) {
          var error = answer.body.error || {};
          if (agent.refusedPairing(error)) {
            keepToken("");
            if (tokenInput) { tokenInput.value = ""; tokenInput.closest("[data-field]").hidden = false; }
          }
          say(error.kind + "." + error.code);
          return;
        }
        form.querySelector("input[name$=challenge]").value = answer.challenge;
        form.querySelector("input[name$=signature]").value = answer.body.signature;
        var publicKey = form.querySelector("input[name$=public_key]");
        if (publicKey) { publicKey.value = answer.body.public_key; }
        form.submit();
      }).catch(function (error) {
        say(error.message === "agent" ? "agent_not_running" : (error.message === "server" ? "server_failed" : "agent_failed"));
      });
    });
  }

  document.querySelectorAll("form[data-usb-key]").forEach(setUp);
})();
