#include "top/view_model.h"

#include "containers/container_tagger.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

namespace tracer::top {
namespace {

std::string label(const metrics::Sample& s, std::string_view name) {
    for (const auto& l : s.labels)
        if (l.name == name) return l.value;
    return {};
}

// A series' identity across snapshots: its cgroup and the family's own
// labels, not the container tags (a container named one interval late
// keeps its series).
std::string identity(const std::string& family, const metrics::Sample& s) {
    std::string id = family;
    for (const char* name : {"cgroup", "syscall", "kind", "direction"}) {
        id += '\x1f';
        id += label(s, name);
    }
    return id;
}

double non_negative(double d) { return d > 0 ? d : 0; }  // a counter that went back (restart): no rate

}  // namespace

double Buckets::total() const {
    double t = 0;
    for (double c : counts) t += c;
    return t;
}

void Buckets::add(const Buckets& other) {
    if (other.counts.empty()) return;
    if (counts.empty()) {
        *this = other;
        return;
    }
    if (other.bounds != bounds) return;  // different layouts cannot be summed; keep the first
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
}

double percentile(const Buckets& b, double q) {
    double total = b.total();
    if (!(total > 0) || b.counts.size() != b.bounds.size() + 1) return NAN;
    double rank = std::clamp(q, 0.0, 1.0) * total;
    double seen = 0;
    for (size_t i = 0; i < b.counts.size(); ++i) {
        if (b.counts[i] <= 0) continue;
        if (seen + b.counts[i] >= rank) {
            if (i == b.bounds.size()) return b.bounds.empty() ? NAN : b.bounds.back();
            double lower = i == 0 ? 0 : b.bounds[i - 1];
            double upper = b.bounds[i];
            double within = (rank - seen) / b.counts[i];
            return lower + (upper - lower) * std::clamp(within, 0.0, 1.0);
        }
        seen += b.counts[i];
    }
    return b.bounds.empty() ? NAN : b.bounds.back();
}

void Usage::add(const Usage& o) {
    cpu_seconds_per_s += o.cpu_seconds_per_s;
    context_switches_per_s += o.context_switches_per_s;
    syscalls_per_s += o.syscalls_per_s;
    syscall_errors_per_s += o.syscall_errors_per_s;
    rx_bytes_per_s += o.rx_bytes_per_s;
    tx_bytes_per_s += o.tx_bytes_per_s;
    retransmits_per_s += o.retransmits_per_s;
    resets_per_s += o.resets_per_s;
    connections_opened_per_s += o.connections_opened_per_s;
    open_connections += o.open_connections;
    execs_per_s += o.execs_per_s;
    exits_per_s += o.exits_per_s;
    oom_kills_per_s += o.oom_kills_per_s;
    runqueue.add(o.runqueue);
    for (const auto& [name, s] : o.syscalls) {
        auto& mine = syscalls[name];
        mine.calls_per_s += s.calls_per_s;
        mine.errors_per_s += s.errors_per_s;
        mine.seconds_per_s += s.seconds_per_s;
        if (!std::isnan(s.max_seconds) && !(mine.max_seconds >= s.max_seconds)) mine.max_seconds = s.max_seconds;
        mine.latency.add(s.latency);
        mine.timed = mine.timed || s.timed;
    }
}

const std::vector<ColumnInfo>& columns() {
    static const std::vector<ColumnInfo> all = {
        {Column::Name, "NAME", 'n', "name"},
        {Column::Cpu, "CPU%", 'c', "cpu_percent"},
        {Column::Throttled, "THR%", 'T', "throttled_percent"},
        {Column::RunqP99, "RQ-P99", 'l', "runqueue_p99_seconds"},
        {Column::CtxSw, "CSW/s", 'w', "context_switches_per_s"},
        {Column::Syscalls, "SYSC/s", 's', "syscalls_per_s"},
        {Column::Errors, "ERR/s", 'e', "syscall_errors_per_s"},
        {Column::TopSyscall, "TOP-SYSCALL", 't', "top_syscall"},
        {Column::NetRx, "RX/s", 'r', "rx_bytes_per_s"},
        {Column::NetTx, "TX/s", 'x', "tx_bytes_per_s"},
        {Column::Retrans, "RETR/s", 'R', "tcp_retransmits_per_s"},
        {Column::Conns, "CONN", 'o', "open_connections"},
        {Column::Memory, "MEM", 'm', "memory_bytes"},
        {Column::Pids, "PIDS", 'p', "pids"},
    };
    return all;
}

bool ViewModel::update(TimedSnapshot snap) {
    if (has_current_ && snap.sequence != 0 && snap.sequence == current_.sequence) return false;
    // Rates need time between the two: a snapshot no newer than the current
    // one is the same publication seen again.
    if (has_current_ && snap.monotonic_seconds <= current_.monotonic_seconds) return false;
    const bool rates = has_current_;
    std::unordered_map<std::string, const metrics::Sample*> before;
    if (rates)
        for (const auto& f : current_.families)
            for (const auto& s : f.samples) before.emplace(identity(f.name, s), &s);
    elapsed_ = rates ? snap.monotonic_seconds - current_.monotonic_seconds : 0;
    const double per = elapsed_ > 1e-3 ? 1.0 / elapsed_ : 0;

    std::map<std::string, CgroupEntry> cgroups;
    for (const auto& f : snap.families) {
        for (const auto& s : f.samples) {
            std::string path = label(s, "cgroup");
            if (path.empty()) continue;  // not per cgroup
            auto& e = cgroups[path];
            if (e.container_id.empty()) {
                e.container_id = label(s, "container_id");
                e.container_name = label(s, "container_name");
                e.image = label(s, "image");
                e.pod = label(s, "pod");
                e.kube_namespace = label(s, "namespace");
                e.kube_container = label(s, "kube_container");
            }
            auto& u = e.usage;
            const metrics::Sample* prev = nullptr;
            if (rates)
                if (auto it = before.find(identity(f.name, s)); it != before.end()) prev = it->second;
            // The rate of a counter: a series new since the last snapshot started at 0.
            auto rate = [&] { return rates ? non_negative(s.value - (prev ? prev->value : 0)) * per : 0; };
            auto buckets = [&] {
                Buckets b;
                if (!rates) return b;
                b.bounds = s.histogram.bounds;
                b.counts.resize(s.histogram.counts.size());
                for (size_t i = 0; i < b.counts.size(); ++i) {
                    double was = prev && prev->histogram.counts.size() == b.counts.size() ? double(prev->histogram.counts[i]) : 0;
                    b.counts[i] = non_negative(double(s.histogram.counts[i]) - was);
                }
                return b;
            };
            const std::string& n = f.name;
            if (n == "tracer.syscalls") {
                double r = rate();
                u.syscalls_per_s += r;
                u.syscalls[label(s, "syscall")].calls_per_s += r;
            } else if (n == "tracer.syscall.errors") {
                double r = rate();
                u.syscall_errors_per_s += r;
                u.syscalls[label(s, "syscall")].errors_per_s += r;
            } else if (n == "tracer.syscall.duration") {
                auto& sc = u.syscalls[label(s, "syscall")];
                sc.timed = true;
                sc.latency.add(buckets());
                if (rates) sc.seconds_per_s += non_negative(s.histogram.sum - (prev ? prev->histogram.sum : 0)) * per;
            } else if (n == "tracer.syscall.max_duration") {
                u.syscalls[label(s, "syscall")].max_seconds = s.value;
            } else if (n == "tracer.runqueue.latency") {
                u.runqueue.add(buckets());
            } else if (n == "tracer.cpu") {
                u.cpu_seconds_per_s += rate();
            } else if (n == "tracer.context_switches") {
                u.context_switches_per_s += rate();
            } else if (n == "tracer.net.bytes") {
                (label(s, "direction") == "rx" ? u.rx_bytes_per_s : u.tx_bytes_per_s) += rate();
            } else if (n == "tracer.tcp.retransmits") {
                u.retransmits_per_s += rate();
            } else if (n == "tracer.tcp.resets") {
                u.resets_per_s += rate();
            } else if (n == "tracer.tcp.connections.opened") {
                u.connections_opened_per_s += rate();
            } else if (n == "tracer.tcp.connections.open") {
                u.open_connections += s.value;
            } else if (n == "tracer.process.execs") {
                u.execs_per_s += rate();
            } else if (n == "tracer.process.exits") {
                u.exits_per_s += rate();
            } else if (n == "tracer.oom_kills") {
                u.oom_kills_per_s += rate();
            }
        }
    }
    cgroups_ = std::move(cgroups);
    previous_facts_ = std::move(facts_);
    facts_.clear();
    current_ = std::move(snap);
    has_previous_ = rates;
    has_current_ = true;
    return true;
}

std::string ViewModel::display_name(const CgroupEntry& e) {
    std::string name = containers::container_display_name(e.container_name, e.pod, e.kube_container);
    return name.empty() ? e.container_id : name;
}

Row ViewModel::make_row(const std::string& key, const CgroupEntry& names, std::vector<std::string> cgroups,
                        bool container, const Usage& u) const {
    Row r;
    r.key = key;
    r.name = display_name(names);
    r.image = names.image;
    r.pod = names.pod;
    r.kube_namespace = names.kube_namespace;
    r.is_container = container;
    r.usage = u;
    r.cpu_percent = u.cpu_seconds_per_s * 100;
    r.runq_p99_seconds = percentile(u.runqueue, 0.99);
    for (const auto& [sc, s] : u.syscalls)
        if (s.seconds_per_s > r.top_syscall_seconds_per_s) {
            r.top_syscall = sc;
            r.top_syscall_seconds_per_s = s.seconds_per_s;
        }
    if (reader_) {
        auto it = facts_.find(cgroups);
        if (it == facts_.end()) it = facts_.emplace(cgroups, reader_(cgroups)).first;
        const CgroupFacts& facts = it->second;
        r.memory_bytes = facts.memory_bytes;
        r.memory_limit = facts.memory_limit;
        r.pids = facts.pids;
        r.cpu_limit = facts.cpu_limit;
        auto before = previous_facts_.find(cgroups);
        if (facts.throttling && before != previous_facts_.end() && before->second.throttling && elapsed_ > 1e-3) {
            const CpuThrottling &now = *facts.throttling, &was = *before->second.throttling;
            const double periods = now.periods - was.periods;
            if (periods > 0) r.throttled_percent = non_negative(now.throttled_periods - was.throttled_periods) / periods * 100;
            if (now.throttled_seconds >= was.throttled_seconds)
                r.throttled_seconds_per_s = (now.throttled_seconds - was.throttled_seconds) / elapsed_;
        }
        if (facts.pressure && before != previous_facts_.end() && before->second.pressure && elapsed_ > 1e-3) {
            const Pressure &now = *facts.pressure, &was = *before->second.pressure;
            auto share = [&](double a, double b) { return std::min(1.0, non_negative(a - b) / elapsed_); };
            r.pressure = Pressure{share(now.cpu_some, was.cpu_some), share(now.memory_some, was.memory_some),
                                  share(now.memory_full, was.memory_full), share(now.io_some, was.io_some),
                                  share(now.io_full, was.io_full)};
        }
    }
    r.cgroups = std::move(cgroups);
    return r;
}

std::vector<Row> ViewModel::rows(const ViewOptions& options) const {
    std::vector<Row> out;
    if (options.all_cgroups) {
        for (const auto& [path, e] : cgroups_) {
            Row r = make_row(path, e, {path}, !e.container_id.empty(), e.usage);
            if (!e.container_id.empty()) r.name += " (" + path + ")";
            else r.name = path;
            if (row_matches(r, options.filter)) out.push_back(std::move(r));
        }
    } else {
        struct Group {
            const CgroupEntry* names = nullptr;  // its first cgroup's
            std::vector<std::string> cgroups;
            Usage usage;
        };
        std::map<std::string, Group> groups;
        for (const auto& [path, e] : cgroups_) {
            if (e.container_id.empty()) continue;
            auto& g = groups[e.container_id];
            if (!g.names) g.names = &e;
            g.cgroups.push_back(path);
            g.usage.add(e.usage);
        }
        for (auto& [id, g] : groups) {
            Row r = make_row(id, *g.names, std::move(g.cgroups), true, g.usage);
            if (row_matches(r, options.filter)) out.push_back(std::move(r));
        }
    }
    sort_rows(out, options.sort, options.reverse);
    return out;
}

std::optional<Row> ViewModel::row(const std::string& key, bool all_cgroups) const {
    ViewOptions o;
    o.all_cgroups = all_cgroups;
    for (auto& r : rows(o))
        if (r.key == key) return std::move(r);
    return std::nullopt;
}

std::string ViewModel::label_of(const std::string& family, const std::string& name) const {
    for (const auto& f : current_.families)
        if (f.name == family && !f.samples.empty()) return label(f.samples.front(), name);
    return {};
}

double ViewModel::total_of(const std::string& family) const {
    double t = 0;
    for (const auto& f : current_.families)
        if (f.name == family)
            for (const auto& s : f.samples) t += s.value;
    return t;
}

bool row_matches(const Row& row, const std::string& filter) {
    if (filter.empty()) return true;
    auto contains = [&](const std::string& hay) {
        return std::search(hay.begin(), hay.end(), filter.begin(), filter.end(), [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
               }) != hay.end();
    };
    if (contains(row.name) || contains(row.key) || contains(row.image) || contains(row.pod) ||
        contains(row.kube_namespace))
        return true;
    return std::any_of(row.cgroups.begin(), row.cgroups.end(), contains);
}

void sort_rows(std::vector<Row>& rows, Column column, bool reverse) {
    // Numbers: larger first; missing (NaN / unknown) always last.
    auto number = [column](const Row& r) -> double {
        switch (column) {
        case Column::Cpu: return r.cpu_percent;
        case Column::RunqP99: return r.runq_p99_seconds;
        case Column::CtxSw: return r.usage.context_switches_per_s;
        case Column::Syscalls: return r.usage.syscalls_per_s;
        case Column::Errors: return r.usage.syscall_errors_per_s;
        case Column::TopSyscall: return r.top_syscall_seconds_per_s;
        case Column::NetRx: return r.usage.rx_bytes_per_s;
        case Column::NetTx: return r.usage.tx_bytes_per_s;
        case Column::Retrans: return r.usage.retransmits_per_s;
        case Column::Conns: return r.usage.open_connections;
        case Column::Memory: return r.memory_bytes.value_or(NAN);
        case Column::Pids: return r.pids.value_or(NAN);
        case Column::Throttled: return r.throttled_percent;
        case Column::Name: break;
        }
        return NAN;
    };
    std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
        if (column == Column::Name) {
            if (a.name != b.name) return reverse ? a.name > b.name : a.name < b.name;
            return a.key < b.key;
        }
        double x = number(a), y = number(b);
        bool xn = std::isnan(x), yn = std::isnan(y);
        if (xn != yn) return yn;  // known before unknown
        if (!xn && x != y) return reverse ? x < y : x > y;
        if (a.name != b.name) return a.name < b.name;
        return a.key < b.key;
    });
}

}  // namespace tracer::top
