#include "collectors/plugin_runner.h"

#include "log.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <set>
#include <thread>

namespace tracer::collectors {
namespace {

using Clock = std::chrono::steady_clock;

Clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string seconds_text(Clock::duration d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g s", std::chrono::duration<double>(d).count());
    return buf;
}

struct Instance {
    std::string id;
    std::string plugin;
    std::string status_check;  // Check::status_check()
    std::shared_ptr<Check> check;
    metrics::Labels tag_labels;
    std::vector<std::string> tags;
    Clock::duration interval{};
    Clock::duration timeout{};
    // Below: guarded by Shared::mu.
    Clock::time_point next_due{};
    bool busy = false;     // queued, running, or its abandoned run has not returned
    uint64_t finished = 0; // runs completed or abandoned
    RateDeriver rates;
    InstanceReport report;
    std::vector<metrics::ServiceCheck> pending_checks;  // not yet flushed
};

struct Worker {
    std::thread thread;
    std::shared_ptr<Instance> current;  // the run it is on, if any
    Clock::time_point abandon_at{};
    bool abandoned = false;
};

}  // namespace

struct PluginRunner::Shared : std::enable_shared_from_this<PluginRunner::Shared> {
    PluginRunnerOptions options;
    std::vector<ConfdProblem> problems;
    std::vector<std::shared_ptr<Instance>> instances;

    mutable std::mutex mu;
    std::condition_variable work_cv;   // workers: a run is queued, or stop
    std::condition_variable state_cv;  // scheduler, run_once, stop: a run started or ended
    std::deque<std::shared_ptr<Instance>> queue;
    std::list<std::shared_ptr<Worker>> workers;  // joinable, not written off
    size_t abandoned_alive = 0;
    uint64_t abandoned_unreplaced = 0;
    bool stopping = false;
    bool scheduling = false;
    std::thread scheduler;

    // All below: with `mu` held.
    void spawn_worker() {
        auto w = std::make_shared<Worker>();
        workers.push_back(w);
        w->thread = std::thread([self = shared_from_this(), w] { self->worker_loop(w); });
    }

    void ensure_workers() {
        size_t want = std::max<size_t>(1, std::min(options.workers, instances.size()));
        while (workers.size() < want) spawn_worker();
    }

    void enqueue(const std::shared_ptr<Instance>& inst) {
        inst->busy = true;
        queue.push_back(inst);
        work_cv.notify_one();
    }

    // Writes off runs past their abandon time; returns the next abandon time.
    Clock::time_point abandon_overdue(Clock::time_point now) {
        Clock::time_point next = Clock::time_point::max();
        for (auto it = workers.begin(); it != workers.end();) {
            auto& w = **it;
            if (!w.current || now < w.abandon_at) {
                if (w.current) next = std::min(next, w.abandon_at);
                ++it;
                continue;
            }
            abandon(w);
            it = workers.erase(it);
        }
        if (!stopping) ensure_replacements();
        return next;
    }

    void abandon(Worker& w) {
        auto& inst = *w.current;
        w.abandoned = true;
        w.thread.detach();
        ++abandoned_alive;
        inst.report.timeouts++;
        inst.report.errors++;
        inst.finished++;
        inst.report.completed = true;
        inst.report.last_error = "timed out: no result " + seconds_text(inst.timeout + kAbandonGrace) +
                                 " after the run started (timeout " + seconds_text(inst.timeout) +
                                 "); the run was abandoned";
        inst.report.metrics.clear();
        inst.report.service_checks = {{inst.status_check, CheckStatus::Critical, inst.report.last_error}};
        queue_service_checks(inst);
        LOG_WARN("plugin %s: %s", inst.id.c_str(), inst.report.last_error.c_str());
        // inst.busy stays set until the abandoned run returns: a Check never runs twice at once.
    }

    void ensure_replacements() {
        size_t want = std::max<size_t>(1, std::min(options.workers, instances.size()));
        while (workers.size() < want) {
            if (abandoned_alive > options.max_abandoned) {
                ++abandoned_unreplaced;
                LOG_ERROR("plugins: %zu hung check threads written off; not replacing more until they return",
                          abandoned_alive);
                return;
            }
            spawn_worker();
        }
    }

    void queue_service_checks(Instance& inst) {
        for (const auto& sc : inst.report.service_checks)
            inst.pending_checks.push_back(metrics::ServiceCheck{
                sc.name, static_cast<int>(sc.status), unix_seconds(), "", sc.message,
                sc.labels.empty() ? inst.tags : tags_from_labels(merged_labels(sc.labels, inst.tag_labels))});
    }

    void finish(Instance& inst, CollectedRun& run, const std::string& error, Clock::time_point started,
                Clock::time_point ended) {
        auto& r = inst.report;
        r.runs++;
        r.last_duration = std::chrono::duration<double>(ended - started).count();
        if (!error.empty()) r.errors++;
        r.last_error = error;
        inst.rates.derive(run.metrics, started);
        bool reported = std::any_of(run.service_checks.begin(), run.service_checks.end(),
                                    [&](const auto& sc) { return sc.name == inst.status_check; });
        if (!reported)
            run.service_checks.push_back(
                {inst.status_check, error.empty() ? CheckStatus::Ok : CheckStatus::Critical, error});
        r.metrics = std::move(run.metrics);
        r.service_checks = std::move(run.service_checks);
        r.completed = true;
        inst.finished++;
        inst.busy = false;
        queue_service_checks(inst);
        if (!error.empty()) LOG_DEBUG("plugin %s: run failed: %s", inst.id.c_str(), error.c_str());
    }

    void worker_loop(const std::shared_ptr<Worker>& self) {
        std::unique_lock lk(mu);
        for (;;) {
            work_cv.wait(lk, [&] { return stopping || !queue.empty(); });
            if (stopping) return;
            auto inst = queue.front();
            queue.pop_front();
            auto started = Clock::now();
            self->current = inst;
            self->abandon_at = started + inst->timeout + kAbandonGrace;
            state_cv.notify_all();
            lk.unlock();

            CollectedRun run(started + inst->timeout);
            std::string error;
            try {
                inst->check->run(run);
            } catch (const std::exception& e) {
                error = *e.what() ? e.what() : "the check failed";
            } catch (...) {
                error = "the check failed with an unknown exception";
            }
            auto ended = Clock::now();

            lk.lock();
            if (self->abandoned) {  // written off: its result is stale; this thread is detached
                --abandoned_alive;
                inst->busy = false;
                LOG_INFO("plugin %s: the abandoned run returned after %s", inst->id.c_str(),
                         seconds_text(ended - started).c_str());
                if (!stopping) ensure_replacements();
                state_cv.notify_all();
                return;
            }
            self->current.reset();
            finish(*inst, run, error, started, ended);
            state_cv.notify_all();
        }
    }

    void scheduler_loop() {
        std::unique_lock lk(mu);
        while (!stopping) {
            auto now = Clock::now();
            auto wake = now + std::chrono::hours(1);
            for (auto& inst : instances) {
                if (now >= inst->next_due) {
                    if (inst->busy)
                        inst->report.skipped++;
                    else
                        enqueue(inst);
                    inst->next_due += inst->interval;
                    if (inst->next_due <= now) inst->next_due = now + inst->interval;
                }
                wake = std::min(wake, inst->next_due);
            }
            wake = std::min(wake, abandon_overdue(now));
            state_cv.wait_until(lk, wake);
        }
    }
};

CheckStatus InstanceReport::worst() const {
    if (service_checks.empty()) return CheckStatus::Unknown;
    int worst = 0;
    for (const auto& sc : service_checks) worst = std::max(worst, static_cast<int>(sc.status));
    return static_cast<CheckStatus>(worst);
}

PluginRunner::PluginRunner(std::vector<LoadedInstance> instances, std::vector<ConfdProblem> problems,
                           PluginRunnerOptions options)
    : shared_(std::make_shared<Shared>()) {
    shared_->options = options;
    shared_->problems = std::move(problems);
    for (auto& loaded : instances) {
        auto inst = std::make_shared<Instance>();
        inst->plugin = loaded.config.plugin;
        inst->id = loaded.config.plugin + "[" + std::to_string(loaded.config.index) + "]";
        // Two files for one plugin (redis.yaml and redis.d/more.yaml): ids stay unique.
        for (int n = 2; std::any_of(shared_->instances.begin(), shared_->instances.end(),
                                    [&](const auto& other) { return other->id == inst->id; });
             ++n)
            inst->id = loaded.config.plugin + "[" + std::to_string(loaded.config.index) + "." + std::to_string(n) + "]";
        inst->status_check = loaded.check ? loaded.check->status_check() : "";
        if (inst->status_check.empty()) inst->status_check = inst->plugin + ".can_connect";
        inst->check = std::move(loaded.check);
        inst->tags = loaded.config.tags;
        inst->tag_labels = labels_from_tags(inst->tags);
        double every = loaded.config.min_collection_interval > 0 ? loaded.config.min_collection_interval
                                                                 : options.agent_interval;
        inst->interval = seconds(std::max(every, 0.05));
        inst->timeout = seconds(loaded.config.timeout_seconds);
        inst->report.id = inst->id;
        inst->report.plugin = inst->plugin;
        inst->report.tags = inst->tags;
        shared_->instances.push_back(std::move(inst));
    }
}

PluginRunner::~PluginRunner() { stop(); }

void PluginRunner::start() {
    std::lock_guard lk(shared_->mu);
    if (shared_->scheduling || shared_->stopping || shared_->instances.empty()) return;
    shared_->scheduling = true;
    shared_->ensure_workers();
    auto now = Clock::now();
    for (auto& inst : shared_->instances) inst->next_due = now;
    shared_->scheduler = std::thread([s = shared_] { s->scheduler_loop(); });
}

void PluginRunner::run_once() {
    std::unique_lock lk(shared_->mu);
    if (shared_->stopping || shared_->instances.empty()) return;
    shared_->ensure_workers();
    std::vector<std::pair<Instance*, uint64_t>> waiting;
    for (auto& inst : shared_->instances) {
        if (inst->busy) continue;  // an abandoned run of it has not returned: nothing to wait for
        shared_->enqueue(inst);
        waiting.emplace_back(inst.get(), inst->finished + 1);
    }
    auto all_done = [&] {
        return std::all_of(waiting.begin(), waiting.end(), [](const auto& w) { return w.first->finished >= w.second; });
    };
    while (!all_done()) {
        auto next = shared_->abandon_overdue(Clock::now());
        if (all_done()) break;
        shared_->state_cv.wait_until(lk, std::min(next, Clock::now() + std::chrono::milliseconds(200)));
    }
}

void PluginRunner::stop() {
    std::unique_lock lk(shared_->mu);
    if (shared_->stopping) return;
    shared_->stopping = true;
    shared_->queue.clear();
    shared_->work_cv.notify_all();
    shared_->state_cv.notify_all();
    std::thread scheduler = std::move(shared_->scheduler);
    lk.unlock();
    if (scheduler.joinable()) scheduler.join();
    lk.lock();
    // Runs in flight get until their abandon time, at most kStopGrace; then they are written off.
    auto give_up = Clock::now() + kStopGrace;
    for (;;) {
        auto now = Clock::now();
        if (now >= give_up)
            for (auto& w : shared_->workers)
                if (w->current) w->abandon_at = std::min(w->abandon_at, now);
        auto next = shared_->abandon_overdue(now);
        if (next == Clock::time_point::max()) break;
        shared_->state_cv.wait_until(lk, std::min(next, give_up));
    }
    std::vector<std::thread> idle;
    for (auto& w : shared_->workers) idle.push_back(std::move(w->thread));
    shared_->workers.clear();
    lk.unlock();
    for (auto& t : idle) t.join();
}

size_t PluginRunner::instance_count() const { return shared_->instances.size(); }

std::vector<InstanceReport> PluginRunner::reports() const {
    std::lock_guard lk(shared_->mu);
    std::vector<InstanceReport> out;
    for (const auto& inst : shared_->instances) out.push_back(inst->report);
    return out;
}

void PluginRunner::flush(metrics::Interval& out) {
    auto counter = [](const char* name, const char* help) {
        return metrics::Family{name, "", help, metrics::MetricType::Counter, {}};
    };
    auto runs = counter("tracer.plugin.runs", "Completed runs of each plugin instance.");
    auto errors = counter("tracer.plugin.errors", "Runs of each plugin instance that failed or timed out.");
    auto timeouts = counter("tracer.plugin.timeouts",
                            "Runs still going after their timeout (plus a 1 s grace): abandoned.");
    auto skipped = counter("tracer.plugin.skipped",
                           "Scheduled runs not started because the previous run of the instance was still going.");
    metrics::Family duration{"tracer.plugin.run.duration", "seconds", "How long the last run of each instance took.",
                             metrics::MetricType::Gauge, {}};
    metrics::Family check_status{"tracer.plugin.check_status", "",
                                 "The last status of each service check: 0 ok, 1 warning, 2 critical, 3 unknown.",
                                 metrics::MetricType::Gauge, {}};
    metrics::Family config_errors{"tracer.plugin.config_errors", "",
                                  "conf.d files or instances that could not be loaded (see the log).",
                                  metrics::MetricType::Gauge, {}};
    std::lock_guard lk(shared_->mu);
    for (auto& inst : shared_->instances) {
        const auto& r = inst->report;
        append_families(r.metrics, inst->tag_labels, out.families);
        for (auto& sc : inst->pending_checks) out.service_checks.push_back(std::move(sc));
        inst->pending_checks.clear();
        metrics::Labels self{{"instance", inst->id}, {"plugin", inst->plugin}};
        runs.samples.push_back({self, double(r.runs), {}});
        errors.samples.push_back({self, double(r.errors), {}});
        timeouts.samples.push_back({self, double(r.timeouts), {}});
        skipped.samples.push_back({self, double(r.skipped), {}});
        duration.samples.push_back({self, r.last_duration, {}});
        for (const auto& sc : r.service_checks)
            check_status.samples.push_back(
                {merged_labels({{"check", sc.name}, {"instance", inst->id}, {"plugin", inst->plugin}}, sc.labels),
                 double(sc.status), {}});
    }
    config_errors.samples.push_back({{}, double(shared_->problems.size()), {}});
    for (auto* f : {&runs, &errors, &timeouts, &skipped, &duration, &check_status, &config_errors})
        out.families.push_back(std::move(*f));
}

std::vector<metrics::SourceStatus> PluginRunner::status() const {
    std::lock_guard lk(shared_->mu);
    std::vector<metrics::SourceStatus> out;
    for (const auto& inst : shared_->instances) {
        const auto& r = inst->report;
        // Down: the instance cannot collect (an error, or its own check, can_connect
        // or process.up, critical). Its other checks judge what it monitors (a
        // backend server down, a certificate expiring), not the agent: named in
        // the detail, they leave it up.
        bool own_critical = std::any_of(r.service_checks.begin(), r.service_checks.end(), [&](const auto& sc) {
            return sc.name == inst->status_check && sc.status == CheckStatus::Critical;
        });
        bool up = r.completed && r.last_error.empty() && !own_critical;
        std::string detail;
        if (!r.completed)
            detail = "not run yet";
        else if (!r.last_error.empty())
            detail = r.last_error;
        else if (r.worst() == CheckStatus::Critical || r.worst() == CheckStatus::Warning)
            for (const auto& sc : r.service_checks)
                if (sc.status != CheckStatus::Ok) detail += (detail.empty() ? "" : "; ") + sc.name + ": " + sc.message;
        if (detail.empty())
            detail = std::to_string(r.metrics.size()) + " metrics, last run " +
                     std::to_string(static_cast<int>(r.last_duration * 1000)) + " ms";
        out.push_back({"plugins", inst->id, up, detail});
    }
    for (const auto& p : shared_->problems) out.push_back({"plugins", p.file, false, p.message});
    return out;
}

std::unique_ptr<PluginRunner> make_plugin_runner(const std::string& confd_dir, const std::string& host_root,
                                                 double agent_interval, std::shared_ptr<const HostServices> host) {
    ConfdOptions options;
    options.dir = confd_dir;
    options.host_root = host_root;
    options.host = std::move(host);
    auto loaded = load_confd(options);
    for (const auto& p : loaded.problems) LOG_ERROR("plugins: %s", p.message.c_str());
    if (loaded.instances.empty() && loaded.problems.empty()) {
        LOG_DEBUG("plugins: no conf.d files in %s", confd_dir.c_str());
        return nullptr;
    }
    std::set<std::string> plugins;
    for (const auto& i : loaded.instances) plugins.insert(i.config.plugin);
    LOG_INFO("plugins: %zu instance(s) of %zu plugin(s) from %s%s", loaded.instances.size(), plugins.size(),
             confd_dir.c_str(),
             loaded.problems.empty() ? "" : (", " + std::to_string(loaded.problems.size()) + " not loaded").c_str());
    PluginRunnerOptions runner_options;
    runner_options.agent_interval = agent_interval;
    auto runner = std::make_unique<PluginRunner>(std::move(loaded.instances), std::move(loaded.problems), runner_options);
    runner->start();
    return runner;
}

}  // namespace tracer::collectors
