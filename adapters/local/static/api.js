/* Talking to the server: the page's per-process token and one fetch wrapper for /local/api/*,
   whose failures become ApiError; errorText turns any failure into words for the reader. */

// The server puts a per-process token in the page; every API call echoes it.
export function token() {
  var meta = document.querySelector('meta[name="teampulse-token"]');
  return meta ? meta.getAttribute("content") || "" : "";
}

export function ApiError(message, status) {
  this.message = message;
  this.status = status;
}

export function api(method, path, body) {
  var options = {
    method: method,
    headers: { "X-Teampulse-Token": token(), "Accept": "application/json" },
    credentials: "same-origin",
    cache: "no-store"
  };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  return fetch(path, options).then(function (response) {
    return response.text().then(function (raw) {
      var data = null;
      try { data = raw ? JSON.parse(raw) : null; } catch (_) { data = null; }
      if (!response.ok) {
        var reason = data && data.error ? data.error
          : (raw && raw.length < 300 ? raw : "the server answered " + response.status);
        throw new ApiError(reason, response.status);
      }
      return data;
    });
  }, function () {
    throw new ApiError("I can't reach teampulse right now. Is the server still running?", 0);
  });
}

export function errorText(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return "This page's chat token is missing or out of date (" +
      error.message + "). Reload the page to continue.";
    return error.message;
  }
  return "Something went wrong in the page: " + (error && error.message ? error.message : error);
}
