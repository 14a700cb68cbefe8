"""The signed punch API of attendance devices (issue 11 point 2; docs/attendance-api.yaml,
docs/attendance.md). Blueprint `attendance_api` under /api/attendance/v1: routes (the views), auth
(the request's signature, window, nonce and device), wire (the JSON items read into PunchItems).
A device signs every request with its own secret (no session, no browser): the blueprint is
CSRF-exempt and joins no rate limit, so a terminal's backlog is never throttled."""
