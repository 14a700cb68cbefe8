// Worker enrolment (ENR-1…3): the page asks the device agent on this PC to read the ID card and to
// capture a live face (with the head-movement challenge the server drew for this page), fills the form's fields with the
// answers and shows the agent's refusals in the page's own words. The pairing code and the call
// itself: agent.js (shared with the USB-key login).
(function () {
  "use strict";
  var agent = window.shimingAgent, storedToken = agent.storedToken, keepToken = agent.keepToken;

  function setUp(form) {
    var messages = JSON.parse(form.getAttribute("data-messages"));
    var words = JSON.parse(form.getAttribute("data-challenge-words"));
    var agentUrl = form.getAttribute("data-agent-url");
    var box = form.querySelector("[data-agent-message]");
    var tokenInput = form.querySelector("[data-agent-token]");
    var tokenField = tokenInput.closest("[data-field]");
    var readButton = form.querySelector("#read-card");
    var captureButton = form.querySelector("#capture-face");
    var prompt = form.querySelector("#face-prompt");

    function say(key, values) {
      var text = messages[key] || messages.agent_failed;
      Object.keys(values || {}).forEach(function (name) { text = text.replace("{" + name + "}", values[name]); });
      box.textContent = text;
      box.hidden = false;
      box.setAttribute("data-code", key);
    }

    function token() {
      var typed = tokenInput.value.trim();
      if (typed) { keepToken(typed); }
      return typed || storedToken();
    }

    function ask(path, body, button) {
      box.hidden = true;
      var code = token();
      if (!code) {
        tokenField.hidden = false;
        say("agent.not_paired");
        return Promise.resolve(null);
      }
      button.disabled = true;
      return agent.post(agentUrl, path, code, body).then(function (answer) {
        button.disabled = false;
        if (!answer.ok) {
          var error = answer.body.error || {};
          if (agent.refusedPairing(error)) {
            keepToken(""); tokenInput.value = ""; tokenField.hidden = false;
          }
          say(error.kind + "." + error.code);
          return null;
        }
        return answer.body;
      }).catch(function (error) {
        button.disabled = false;
        say(error.message === "agent" ? "agent_not_running" : "agent_failed");
        return null;
      });
    }

    readButton.addEventListener("click", function () {
      ask("/id-card/read", {}, readButton).then(function (answer) {
        if (!answer) { return; }
        var identity = answer.identity;
        form.querySelector("#name").value = identity.name;
        form.querySelector("#id_number").value = identity.id_number;
        form.querySelector("#card_valid_to").value = identity.valid_to || "";
        form.querySelector("#card_read").value = "1";
        say("card_read", {id: identity.masked_id_number});
      });
    });

    function consent() {
      var checked = form.querySelector("input[name=face_consent]:checked");
      return checked ? checked.value : "";
    }

    Array.prototype.forEach.call(form.querySelectorAll("input[name=face_consent]"), function (radio) {
      radio.addEventListener("change", function () {
        captureButton.disabled = consent() !== "given";
        if (consent() !== "given") { form.querySelector("#face_template").value = ""; prompt.hidden = true; }
      });
    });
    captureButton.disabled = consent() !== "given";

    captureButton.addEventListener("click", function () {
      var moves = captureButton.getAttribute("data-challenge").split(",");  // drawn by the server
      prompt.textContent = messages.face_prompt.replace("{moves}", moves.map(function (m) { return words[m]; }).join(" → "));
      prompt.hidden = false;
      prompt.setAttribute("data-challenge", moves.join(","));
      ask("/face/capture", {challenge: moves}, captureButton).then(function (answer) {
        if (!answer) { return; }
        form.querySelector("#face_template").value = answer.template;
        say("face_captured");
      });
    });

    if (!storedToken()) { tokenField.hidden = false; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-enrolment]"), setUp);
  });
})();
