/* Building nodes with the DOM API (never innerHTML, so nothing the server or a colleague writes
   can run as markup): el/append, inline SVG icons, and *bold*, `code`, newlines and "•" bullets
   turned into elements.  Also the clock and initials shown beside messages. */

var SVG_NS = "http://www.w3.org/2000/svg";

export function el(tag, className, text) {
  var node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function append(parent) {
  for (var i = 1; i < arguments.length; i++) {
    var child = arguments[i];
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return parent;
}

export function svgIcon(pathData, className) {
  var svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon " + (className || ""));
  var path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", pathData);
  svg.appendChild(path);
  return svg;
}

export var STAR = "M12 2.5l2.9 6.1 6.6.8-4.9 4.6 1.3 6.6L12 17.3l-5.9 3.3 1.3-6.6-4.9-4.6 6.6-.8z";
export var LOCK = "M18 8h-1V6A5 5 0 0 0 7 6v2H6a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V10a2 2 0 0 0-2-2zM9 6a3 3 0 0 1 6 0v2H9V6zm3 11a2 2 0 1 1 0-4 2 2 0 0 1 0 4z";

export function clock() {
  var now = new Date();
  return String(now.getHours()).padStart(2, "0") + ":" + String(now.getMinutes()).padStart(2, "0");
}

export function initials(name) {
  return (name || "?").split(/\s+/).filter(Boolean).slice(0, 2)
    .map(function (part) { return part[0].toUpperCase(); }).join("");
}

// -- *bold*, `code`, newlines and "•" bullets, without innerHTML ----------------------------
export function inline(parent, text) {
  var pattern = /(\*[^*\n]+\*|`[^`\n]+`)/g;
  var last = 0;
  var match;
  while ((match = pattern.exec(text)) !== null) {
    if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
    var token = match[0];
    if (token[0] === "*") parent.appendChild(el("strong", null, token.slice(1, -1)));
    else parent.appendChild(el("code", null, token.slice(1, -1)));
    last = match.index + token.length;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  return parent;
}

export function richText(text) {
  var box = el("div", "rich");
  var lines = String(text || "").split("\n");
  var list = null;
  var para = null;
  lines.forEach(function (line) {
    var bullet = /^\s*•\s*(.*)$/.exec(line);
    if (bullet) {
      para = null;
      if (!list) { list = el("ul", "bullets"); box.appendChild(list); }
      list.appendChild(inline(el("li"), bullet[1]));
      return;
    }
    list = null;
    if (!line.trim()) { para = null; return; }
    if (para) { para.appendChild(el("br")); inline(para, line); return; }
    para = inline(el("p"), line);
    box.appendChild(para);
  });
  return box;
}
