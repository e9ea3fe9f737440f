#include "cli/top_command.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <map>

#include "cli/python_run.h"
#include "cli/top_view.h"
#include "gilstat/format.h"
#include "host/gil_sampler.h"
#include "host/python_host.h"
#include "probes/pygil_probe.h"

// Last: its macros (timeout, erase, refresh, OK, ERR) must not meet the headers above.
#include <curses.h>

namespace gilstat::cli {
namespace {

TopReading Read(probes::PyGilProbe& probe, host::GilSampler& sampler) {
  TopReading r;
  if (auto stats = probe.Read(); stats.ok()) r.gil = GilByProcess(*stats);
  for (const metrics::GilUtilization& u : sampler.Rows()) {
    if (u.pid != 0) r.sampled[u.pid] = u;
  }
  return r;
}

// The terminal (curses) while `gilstat top` runs in one; its keys.
class Screen {
 public:
  Screen() {
    initscr();
    cbreak();
    noecho();
    curs_set(0);
    timeout(0);  // getch does not wait
  }
  ~Screen() { endwin(); }
  void Show(const std::string& text) {
    erase();
    mvaddstr(0, 0, text.c_str());
    refresh();
  }
  size_t width() const { return static_cast<size_t>(COLS); }
  size_t height() const { return static_cast<size_t>(LINES); }
  // The keys pressed since the last call: false when one was q; sorts on w, u, h.
  bool Keys(TopSort& sort) {
    for (int c = getch(); c != ERR; c = getch()) {
      if (c == 'q' || c == 'Q') return false;
      if (c == 'w') sort = TopSort::kWait;
      if (c == 'u') sort = TopSort::kUtilization;
      if (c == 'h') sort = TopSort::kHandoffs;
    }
    return true;
  }
};

struct TopRun {
  host::PythonTargets& py;
  probes::PyGilProbe& probe;
  host::GilSampler& sampler;
  std::string header;
  TopSort sort = TopSort::kWait;
  TopReading before;
  probes::RawGilStacks stacks_before;
  Clock::time_point at;

  // The rows since the last call.
  std::vector<TopRow> Next() {
    const Clock::time_point now_t = Clock::now();
    TopReading now = Read(probe, sampler);
    const auto stacks = py.Stacks(&stacks_before);
    auto rows = TopRows(before, now, stacks, py.Names(),
                        std::chrono::duration<double>(now_t - at).count(), sort);
    before = std::move(now);
    stacks_before = py.ReadStacks();
    at = now_t;
    return rows;
  }
};

}  // namespace

int RunTop(const TopOptions& options, const RunEnv& env, std::ostream& out, std::ostream& err) {
  // A live view refreshed every second: 4 ms samples (±2.5% per second at worst) rather than
  // the daemon's always-on 10 ms, for as long as the user watches.
  host::GilSamplerOptions sampling;
  sampling.mean_interval = std::chrono::microseconds(4000);
  host::GilSampler sampler(sampling, [](pid_t) { return std::optional<std::string>(); });
  PythonRun run;
  const int started = StartPythonRun(
      options, env, err,
      [&sampler](host::PythonTargets& py) {
        sampler.Start();
        py.SetSampler(&sampler);  // before the first attach
        return std::make_unique<ForwardToPython>(py);
      },
      run);
  if (started != kExitOk) return started;
  host::PythonTargets& py = *run.py;
  tracker::Tracker& tracker = *run.tracker;
  const std::string header = "gilstat top: " + tracker.targets().Describe() + ", every " +
                             Printf("%g", options.interval_s) + " s";
  TopRun view{py, *run.probe, sampler, header};
  view.before = Read(*run.probe, sampler);
  view.stacks_before = py.ReadStacks();
  view.at = Clock::now();
  const bool tty = !options.once && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
  const Clock::time_point start = Clock::now();
  std::unique_ptr<Screen> screen = tty ? std::make_unique<Screen>() : nullptr;
  bool go_on = true;
  while (go_on) {
    // One interval, following processes; the keys are read every 0.1 s.
    const bool stopped = TraceUntilEnd(
        tracker, run.events.get(), env, Clock::now(), options.interval_s,
        [&] { return !screen || (go_on = screen->Keys(view.sort)); },
        std::chrono::milliseconds(100));
    const auto rows = view.Next();
    if (screen) {
      screen->Show(TopScreen(rows, header, view.sort, screen->width(), screen->height()));
    } else {
      out << TopScreen(rows, header, view.sort, 200, 10000) << "\n";
      out.flush();
    }
    const bool expired =
        options.duration_s &&
        std::chrono::duration<double>(Clock::now() - start).count() >= *options.duration_s;
    if (stopped || expired || !tty) go_on = false;  // not a terminal (or --once): one frame
  }
  screen.reset();
  tracker.DetachAll();
  sampler.Stop();
  return kExitOk;
}

}  // namespace gilstat::cli
