// The device agent on this PC (docs/devices.md) as the platform's pages call it: the pairing code,
// kept in this browser's storage for the platform's origin only, and one POST that tells an agent
// that cannot be reached (an Error "agent") from one that answered ({ok, body}).
window.shimingAgent = (function () {
  "use strict";
  var TOKEN_KEY = "shiming-agent-token";

  function storedToken() {
    try { return window.localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function keepToken(token) {
    try {
      if (token) { window.localStorage.setItem(TOKEN_KEY, token); } else { window.localStorage.removeItem(TOKEN_KEY); }
    } catch (e) { /* storage disabled: the code is asked for again next time */ }
  }

  function post(agentUrl, path, token, body) {
    return fetch(agentUrl + path, {
      method: "POST", mode: "cors", credentials: "omit",
      headers: {"Content-Type": "application/json", "X-Shiming-Agent-Token": token},
      body: JSON.stringify(body)
    }).catch(function () { throw new Error("agent"); }).then(function (response) {
      return response.json().then(function (answer) { return {ok: response.ok, body: answer}; });
    });
  }

  // the agent refused the pairing code: forget it, so the page asks for the current one
  function refusedPairing(error) {
    return error.code === "bad_token" || error.code === "not_paired";
  }

  return {storedToken: storedToken, keepToken: keepToken, post: post, refusedPairing: refusedPairing};
})();
