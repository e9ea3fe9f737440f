#include "profile/flame_svg.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include "gilstat/format.h"
#include "profile/gil_profile.h"

namespace gilstat::profile {
namespace {

constexpr double kWidth = 1200, kPad = 10, kRow = 17, kFont = 12, kCharW = 7.3;
constexpr double kTitleH = 40;

struct Node {
  std::string name;  // the frame's label ("function (file:line)"), or the process
  std::string leaf;  // what the box shows first: the function
  uint64_t wait_ns = 0;
  uint64_t count = 0;
  std::map<std::string, std::unique_ptr<Node>> children;  // by label: alphabetical order
};

Node* Child(Node& n, const std::string& name, const std::string& leaf) {
  auto& c = n.children[name];
  if (!c) {
    c = std::make_unique<Node>();
    c->name = name;
    c->leaf = leaf;
  }
  return c.get();
}

// The tree of one view of one lock's waits: all -> process -> outermost frame -> ... ->
// innermost frame.
Node Tree(const std::vector<ProcessGilStacks>& procs, View view, WaitLock lock) {
  Node root;
  const std::string what = lock == WaitLock::kGil ? "all GIL waits" : "all threading-lock waits";
  root.name = root.leaf =
      what + (view == View::kWaiters ? " (by waiting stack)" : " (by holder's stack)");
  for (const ProcessGilStacks& p : procs) {
    const std::string proc = p.comm + " (pid " + std::to_string(p.pid) + ")";
    for (const StackTotal& s : StacksBy(p, view, lock)) {
      Node* n = Child(root, proc, proc);
      root.wait_ns += s.wait_ns;
      root.count += s.count;
      n->wait_ns += s.wait_ns;
      n->count += s.count;
      if (s.stack.truncated) {
        n = Child(*n, "[truncated]", "[truncated]");
        n->wait_ns += s.wait_ns;
        n->count += s.count;
      }
      if (s.stack.frames.empty()) {
        n = Child(*n, "[no Python frame]", "[no Python frame]");
        n->wait_ns += s.wait_ns;
        n->count += s.count;
      }
      for (auto it = s.stack.frames.rbegin(); it != s.stack.frames.rend(); ++it) {
        n = Child(*n, FrameLabel(*it), it->function);
        n->wait_ns += s.wait_ns;
        n->count += s.count;
      }
    }
  }
  return root;
}

int Depth(const Node& n) {
  int d = 0;
  for (const auto& [k, c] : n.children) d = std::max(d, Depth(*c));
  return d + 1;
}

// What fits in `width` pixels of `text` (".." when cut; empty when not even 3 characters fit).
std::string Fit(const std::string& text, double width) {
  const size_t fits = width > 6 ? static_cast<size_t>((width - 6) / kCharW) : 0;
  if (text.size() <= fits) return text;
  if (fits < 3) return "";
  return text.substr(0, fits - 2) + "..";
}

// A light warm colour from the name (the same function always has the same colour; black text
// stays readable on every one).
std::string Colour(const std::string& name) {
  const uint64_t h = std::hash<std::string>{}(name);
  return Printf("rgb(%d,%d,%d)", 235 + static_cast<int>(h % 21),
                170 + static_cast<int>((h >> 8) % 70), 110 + static_cast<int>((h >> 16) % 60));
}

void Frames(std::string& svg, const Node& n, uint64_t total, double x, double y, double w) {
  const std::string& label = n.name;
  svg += Printf(
      "<g class=\"f\" data-x=\"%.3f\" data-w=\"%.3f\"><title>%s\n%s, %llu waits, %.1f%%"
      "</title><rect x=\"%.3f\" y=\"%.1f\" width=\"%.3f\" height=\"%.1f\" fill=\"%s\" "
      "rx=\"2\"/><text x=\"%.3f\" y=\"%.1f\">%s</text></g>\n",
      x, w, XmlEscape(n.name).c_str(), FormatDuration(n.wait_ns).c_str(),
      static_cast<unsigned long long>(n.count),
      total ? 100.0 * static_cast<double>(n.wait_ns) / static_cast<double>(total) : 0.0, x, y,
      std::max(w - 0.5, 0.0), kRow - 1, Colour(n.leaf).c_str(), x + 3, y + kRow - 5,
      XmlEscape(Fit(label, w)).c_str());
  double cx = x;
  for (const auto& [k, c] : n.children) {
    const double cw =
        n.wait_ns ? w * static_cast<double>(c->wait_ns) / static_cast<double>(n.wait_ns) : 0;
    if (cw >= 0.5) Frames(svg, *c, total, cx, y + kRow, cw);
    cx += cw;
  }
}

// One graph: its title, then its frames, inside <g class="graph">; returns its height.
double Graph(std::string& svg, const Node& root, const std::string& title, double top) {
  svg += "<g class=\"graph\">\n";
  svg += Printf("<text class=\"t\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", kPad, top + 22,
                XmlEscape(title).c_str());
  if (root.wait_ns == 0) {
    svg += Printf("<text x=\"%.1f\" y=\"%.1f\">no contended GIL wait seen</text>\n", kPad,
                  top + kTitleH + 12);
    svg += "</g>\n";
    return kTitleH + 24;
  }
  Frames(svg, root, root.wait_ns, kPad, top + kTitleH, kWidth - 2 * kPad);
  svg += "</g>\n";
  return kTitleH + Depth(root) * kRow + 20;
}

// Click: the clicked frame fills the width of its graph; frames that are not inside it (and not
// above it) are hidden; the top row (the graph's root) resets.
constexpr const char* kScript = R"JS(
var W = %WIDTH%, P = %PAD%, CW = %CHARW%;
function fit(t, w) { var n = Math.floor((w - 6) / CW); if (t.length <= n) return t;
  return n < 3 ? "" : t.substring(0, n - 2) + ".."; }
function zoom(g) {
  var gx = +g.dataset.x, gw = +g.dataset.w, gy = +g.querySelector("rect").getAttribute("y");
  var s = (W - 2 * P) / gw;
  g.parentNode.querySelectorAll("g.f").forEach(function (f) {
    var x = +f.dataset.x, w = +f.dataset.w, r = f.querySelector("rect"), t = f.querySelector("text");
    var y = +r.getAttribute("y"), inside = x >= gx - 1e-6 && x + w <= gx + gw + 1e-6;
    var above = y < gy && x <= gx + 1e-6 && x + w >= gx + gw - 1e-6;
    var nx = above ? P : P + (x - gx) * s, nw = above ? W - 2 * P : w * s;
    f.style.display = inside || above ? "" : "none";
    r.setAttribute("x", nx); r.setAttribute("width", Math.max(nw - 0.5, 0));
    t.setAttribute("x", nx + 3); t.textContent = fit(f.querySelector("title").textContent.split("\n")[0], nw);
  });
}
document.querySelectorAll("g.f").forEach(function (f) {
  f.addEventListener("click", function () { zoom(f); });
});
)JS";

std::string Script() {
  std::string s = kScript;
  auto put = [&s](const std::string& key, const std::string& v) {
    s.replace(s.find(key), key.size(), v);
  };
  put("%WIDTH%", Printf("%g", kWidth));
  put("%PAD%", Printf("%g", kPad));
  put("%CHARW%", Printf("%g", kCharW));
  return s;
}

}  // namespace

std::string FlameSvg(const std::vector<ProcessGilStacks>& procs) {
  const Node waiters = Tree(procs, View::kWaiters, WaitLock::kGil);
  const Node holders = Tree(procs, View::kHolders, WaitLock::kGil);
  const Node lock_waiters = Tree(procs, View::kWaiters, WaitLock::kThreading);
  std::string body;
  double y = 0;
  y += Graph(body, waiters, "GIL wait by the stacks that waited", y);
  y += Graph(body, holders, "GIL wait by the stacks of the holders they waited for (blame)", y);
  // Threading locks (no holder stack: a Lock has no owner the probes know of), when any waited.
  if (!lock_waiters.children.empty()) {
    y += Graph(body, lock_waiters, "Threading-lock wait by the stacks that waited", y);
  }
  std::string svg = Printf(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%.0f\" "
      "viewBox=\"0 0 %g %.0f\">\n<style>text{font-family:monospace;font-size:%gpx;fill:#000}"
      ".t{font-size:16px;font-weight:bold} g.f{cursor:pointer} g.f:hover rect{stroke:#000;"
      "stroke-width:0.5}</style>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
      kWidth, y, kWidth, y, kFont);
  svg += body;
  svg += "<script><![CDATA[" + Script() + "]]></script>\n</svg>\n";
  return svg;
}

}  // namespace gilstat::profile
