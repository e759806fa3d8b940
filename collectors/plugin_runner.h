// Runs the configured plugin instances and hands their latest results to the
// flush loop: a metrics::Source named "plugins".
//
// Every instance runs on its own schedule (min_collection_interval, default
// the agent interval) on a bounded pool of worker threads, with its timeout as
// the run's deadline. flush() only copies what the last completed runs left,
// under a lock no run holds while it works: a slow, hanging or failing check
// never delays the flush loop, /metrics or the other instances.
//
// A run still going `kAbandonGrace` after its deadline is abandoned: it counts
// as a timeout, the instance reports its status check (Check) critical, and its
// worker is written off and replaced, so the pool keeps its size. C++ cannot
// stop a thread, so the abandoned thread runs on, detached, holding shared
// ownership of everything it touches (its Check, the runner's shared state);
// whatever it reports when it returns is discarded. Until it returns, the
// instance is not started again (a Check is never run twice at once): each due
// time meanwhile is counted as skipped. At most `max_abandoned` threads may be
// written off at once; beyond that hung runs are not replaced (logged).
#pragma once

#include "collectors/check_results.h"
#include "collectors/confd.h"
#include "metrics/source.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tracer::collectors {

struct PluginRunnerOptions {
    double agent_interval = 10;  // seconds: the schedule of instances without min_collection_interval
    size_t workers = 4;          // threads running checks
    size_t max_abandoned = 8;    // hung threads written off (and replaced) at most at once
};

// One instance's latest results, for `tracer check` and tests.
struct InstanceReport {
    std::string id;      // "redis[0]"
    std::string plugin;
    std::vector<std::string> tags;
    uint64_t runs = 0, errors = 0, timeouts = 0, skipped = 0;
    double last_duration = 0;                         // seconds
    std::string last_error;                           // "" after a clean run
    std::vector<ReportedMetric> metrics;              // rates already derived
    std::vector<ReportedServiceCheck> service_checks;
    bool completed = false;                           // at least one run finished or was abandoned
    CheckStatus worst() const;                        // of its service checks (Unknown if none)
};

constexpr std::chrono::milliseconds kAbandonGrace{1000};
// stop() waits this long at most for runs in flight before writing them off.
constexpr std::chrono::milliseconds kStopGrace{1000};

class PluginRunner : public metrics::Source {
public:
    // Takes the loaded instances; `problems` are shown in status() and counted.
    PluginRunner(std::vector<LoadedInstance> instances, std::vector<ConfdProblem> problems,
                 PluginRunnerOptions options);
    ~PluginRunner() override;  // stop()
    PluginRunner(const PluginRunner&) = delete;
    PluginRunner& operator=(const PluginRunner&) = delete;

    // Starts the scheduler and the workers: every instance runs at once, then on its schedule.
    void start();
    // Stops scheduling, waits for runs in flight (kStopGrace at most), writes off the rest.
    void stop();

    // Runs every instance once now (without start()) and waits until each has
    // finished or been abandoned. For `tracer check`. Calling it again derives rates.
    void run_once();

    std::string_view name() const override { return "plugins"; }
    void flush(metrics::Interval& out) override;
    std::vector<metrics::SourceStatus> status() const override;

    std::vector<InstanceReport> reports() const;
    size_t instance_count() const;

private:
    struct Shared;
    std::shared_ptr<Shared> shared_;
};

// `tracer run`: conf.d in `confd_dir` -> a started runner (nullptr when the
// directory has no conf.d files). Every problem is logged (one line each);
// none stops the agent. `host` goes to every instance (InstanceConfig::host)
// and must outlive the runner.
std::unique_ptr<PluginRunner> make_plugin_runner(const std::string& confd_dir, const std::string& host_root,
                                                 double agent_interval,
                                                 std::shared_ptr<const HostServices> host = nullptr);

}  // namespace tracer::collectors
