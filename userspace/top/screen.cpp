#include "top/screen.h"

#include "top/format.h"

#include <curses.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <string>
#include <vector>

namespace tracer::top {
namespace {

using Clock = std::chrono::steady_clock;

enum Pair : short { kHeader = 1, kTitle, kSelected, kAlert, kBar, kDim };

// The terminal in curses mode for as long as this lives.
class CursesTerminal {
public:
    CursesTerminal() {
        initscr();
        cbreak();
        noecho();
        keypad(stdscr, TRUE);
        set_escdelay(25);
        curs_set(0);
        timeout(100);
        colors_ = has_colors();
        if (colors_) {
            start_color();
            use_default_colors();
            init_pair(kHeader, COLOR_CYAN, -1);
            init_pair(kTitle, COLOR_BLACK, COLOR_CYAN);
            init_pair(kSelected, COLOR_BLACK, COLOR_WHITE);
            init_pair(kAlert, COLOR_RED, -1);
            init_pair(kBar, COLOR_GREEN, -1);
            init_pair(kDim, COLOR_BLUE, -1);
        }
    }
    ~CursesTerminal() { endwin(); }
    CursesTerminal(const CursesTerminal&) = delete;
    CursesTerminal& operator=(const CursesTerminal&) = delete;

    // A colour where the terminal has them, else the monochrome attribute.
    attr_t attr(Pair p) const {
        if (colors_) return COLOR_PAIR(p) | (p == kTitle || p == kSelected ? A_BOLD : 0);
        switch (p) {
        case kTitle:
        case kSelected: return A_REVERSE;
        case kAlert:
        case kHeader: return A_BOLD;
        case kBar: return A_NORMAL;
        case kDim: return A_DIM;
        }
        return A_NORMAL;
    }

private:
    bool colors_ = false;
};

struct Line {
    std::string text;
    Pair pair = Pair(0);
    bool fill = false;  // the attribute spans the whole width
};

std::string pad(std::string s, size_t width, bool right) {
    if (s.size() > width) {
        s = width > 1 ? s.substr(0, width - 1) + "~" : s.substr(0, width);
        return s;
    }
    std::string spaces(width - s.size(), ' ');
    return right ? spaces + s : s + spaces;
}

// Names: a long cgroup path is told apart by its end, so that is what
// stays; a container's name comes first and stays.
std::string pad_name(const std::string& s, size_t width, bool keep_start) {
    if (!keep_start && s.size() > width && width > 1) return "~" + s.substr(s.size() - (width - 1));
    return pad(s, width, false);
}

struct Cell {
    Column column;
    size_t width;
    bool right;
};

// Which columns fit in `cols`, in priority order, and the name's width.
std::vector<Cell> layout(int cols, size_t& name_width) {
    // Most useful first; shown in the table's own order.
    static const Column priority[] = {Column::Cpu,    Column::Syscalls, Column::RunqP99, Column::Errors,
                                      Column::CtxSw,  Column::Memory,   Column::Pids,    Column::NetRx,
                                      Column::NetTx,  Column::TopSyscall, Column::Retrans, Column::Conns,
                                      Column::Throttled};
    // 8: six characters of value, a sort mark on the title, a space between.
    auto width_of = [](Column c) -> size_t { return c == Column::TopSyscall ? 14 : 8; };
    const size_t min_name = 18;
    size_t used = min_name;
    std::vector<Column> chosen;
    for (Column c : priority)
        if (used + width_of(c) <= size_t(std::max(cols, 0))) {
            used += width_of(c);
            chosen.push_back(c);
        }
    name_width = std::min<size_t>(min_name + (size_t(std::max(cols, 0)) - std::min(used, size_t(std::max(cols, 0)))), 48);
    std::vector<Cell> cells{{Column::Name, name_width, false}};
    for (const auto& info : columns())
        if (std::find(chosen.begin(), chosen.end(), info.column) != chosen.end())
            cells.push_back({info.column, width_of(info.column), info.column != Column::TopSyscall});
    return cells;
}

std::string cell_text(const Row& r, Column c, bool rates) {
    auto rate = [&](double v) { return rates ? human_count(v) : std::string("-"); };
    switch (c) {
    case Column::Name: return r.name;
    case Column::Cpu: return rates ? percent(r.cpu_percent) : "-";
    case Column::Throttled: return percent(r.throttled_percent);
    case Column::RunqP99: return human_seconds(r.runq_p99_seconds);
    case Column::CtxSw: return rate(r.usage.context_switches_per_s);
    case Column::Syscalls: return rate(r.usage.syscalls_per_s);
    case Column::Errors: return rate(r.usage.syscall_errors_per_s);
    case Column::TopSyscall: return r.top_syscall.empty() ? "-" : r.top_syscall;
    case Column::NetRx: return rates ? human_bytes(r.usage.rx_bytes_per_s) : "-";
    case Column::NetTx: return rates ? human_bytes(r.usage.tx_bytes_per_s) : "-";
    case Column::Retrans: return rate(r.usage.retransmits_per_s);
    case Column::Conns: return human_count(r.usage.open_connections);
    case Column::Memory: return human_bytes(r.memory_bytes);
    case Column::Pids: return r.pids ? human_count(*r.pids) : "-";
    }
    return "";
}

// The detail view's line on the CPU limit and throttling ("" without a limit).
std::string cpu_limit_text(const Row& r) {
    if (!r.cpu_limit) return "";
    char limit[32];
    std::snprintf(limit, sizeof limit, "%.2f", *r.cpu_limit);
    std::string out = "cpu limit " + std::string(limit) + " CPUs (CFS quota): ran out in " +
                      percent(r.throttled_percent) + "% of its periods";
    if (!std::isnan(r.throttled_seconds_per_s))
        out += ", tasks throttled " + human_seconds(r.throttled_seconds_per_s) + "/s (summed over CPUs)";
    return out;
}

std::string format_time(int64_t unix_ms) {
    time_t t = time_t(unix_ms / 1000);
    tm local{};
    localtime_r(&t, &local);
    char buf[16];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &local);
    return buf;
}

std::string describe_event(const nlohmann::json& e) {
    std::string kind = e.value("kind", "");
    std::string out = format_time(e.value("time_unix_ms", int64_t(0))) + "  " + pad(kind, 9, false) + " " +
                      pad(std::to_string(e.value("pid", 0)), 7, true) + " " + pad(e.value("comm", ""), 15, false) + " ";
    if (kind == "exec") out += e.value("filename", "");
    else if (kind == "exit") out += "code " + std::to_string(e.value("exit_code", 0)) + " after " + human_seconds(e.value("lifetime_seconds", 0.0));
    else if (kind == "oom_kill") out += human_bytes(e.value("total_vm_bytes", 0.0)) + " virtual";
    else if (kind == "fork") out += "parent " + std::to_string(e.value("ppid", 0));
    else if (kind == "tcp_close")
        out += e.value("direction", "") + " " + e.value("remote", "") + " rx " + human_bytes(e.value("rx_bytes", 0.0)) +
               " tx " + human_bytes(e.value("tx_bytes", 0.0)) + " rtt " + human_seconds(e.value("rtt_seconds", 0.0));
    return out;
}

// One cell of the table: the name left-aligned then a space, numbers
// right-aligned, the syscall left-aligned after a space.
std::string cell_string(const Cell& c, const std::string& text, const Row* row) {
    if (c.column == Column::Name) return (row ? pad_name(text, c.width - 1, row->is_container) : pad(text, c.width - 1, false)) + " ";
    if (!c.right) return " " + pad(text, c.width - 1, false);
    return pad(text, c.width, true);
}

class Screen {
public:
    Screen(TopSession& session, const ScreenOptions& options) : s_(session), opt_(options) {
        view_.all_cgroups = options.all_cgroups;
    }

    int run() {
        CursesTerminal term;
        term_ = &term;
        fetch();
        auto next = Clock::now() + refresh_period();
        for (;;) {
            draw();
            int ch = getch();
            if (ch != ERR && !on_key(ch)) return 0;
            if (opt_.should_stop && opt_.should_stop()) return 0;
            if (!paused_ && Clock::now() >= next) {
                fetch();
                next = Clock::now() + refresh_period();
            }
        }
    }

private:
    enum class Mode { List, Detail, Help, Filter };

    Clock::duration refresh_period() const {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt_.refresh_seconds));
    }

    void fetch() {
        try {
            s_.refresh();
            error_.clear();
        } catch (const std::exception& e) {
            error_ = e.what();
        }
        if (mode_ == Mode::Detail && !detail_key_.empty()) processes_ = s_.files().processes(detail_cgroups());
    }

    std::vector<std::string> detail_cgroups() const {
        auto r = s_.model().row(detail_key_, view_.all_cgroups);
        return r ? r->cgroups : std::vector<std::string>{};
    }

    // false: quit.
    bool on_key(int ch) {
        if (mode_ == Mode::Filter) {
            if (ch == '\n' || ch == KEY_ENTER) mode_ = Mode::List;
            else if (ch == 27) {
                view_.filter.clear();
                mode_ = Mode::List;
            } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
                if (!view_.filter.empty()) view_.filter.pop_back();
            } else if (ch >= 32 && ch < 127)
                view_.filter.push_back(char(ch));
            selected_ = 0;
            return true;
        }
        if (mode_ == Mode::Help) {
            if (ch == 'q') return false;
            mode_ = Mode::List;
            return true;
        }
        if (mode_ == Mode::Detail) {
            switch (ch) {
            case 'q': return false;
            case 27:
            case KEY_LEFT:
            case KEY_BACKSPACE: mode_ = Mode::List; return true;
            case KEY_DOWN: case 'j': ++detail_scroll_; return true;
            case KEY_UP: case 'k': if (detail_scroll_ > 0) --detail_scroll_; return true;
            case KEY_NPAGE: detail_scroll_ += 10; return true;
            case KEY_PPAGE: detail_scroll_ = detail_scroll_ > 10 ? detail_scroll_ - 10 : 0; return true;
            case ' ': paused_ = !paused_; return true;
            case '?': mode_ = Mode::Help; return true;
            default: return true;
            }
        }
        switch (ch) {
        case 'q': return false;
        case '?': case 'h': mode_ = Mode::Help; return true;
        case '/': mode_ = Mode::Filter; return true;
        case ' ': paused_ = !paused_; return true;
        case 'a': view_.all_cgroups = !view_.all_cgroups; selected_ = 0; return true;
        case KEY_DOWN: case 'j': ++selected_; return true;
        case KEY_UP: case 'k': if (selected_ > 0) --selected_; return true;
        case KEY_NPAGE: selected_ += 10; return true;
        case KEY_PPAGE: selected_ = selected_ > 10 ? selected_ - 10 : 0; return true;
        case KEY_HOME: selected_ = 0; return true;
        case 27: view_.filter.clear(); return true;
        case '\n':
        case KEY_ENTER:
        case KEY_RIGHT:
            if (selected_ < rows_.size()) {
                detail_key_ = rows_[selected_].key;
                detail_scroll_ = 0;
                mode_ = Mode::Detail;
                processes_ = s_.files().processes(rows_[selected_].cgroups);
            }
            return true;
        default:
            for (const auto& c : columns())
                if (ch == c.key) {
                    if (view_.sort == c.column) view_.reverse = !view_.reverse;
                    else {
                        view_.sort = c.column;
                        view_.reverse = false;
                    }
                    return true;
                }
            return true;
        }
    }

    void put(int y, const std::string& text, attr_t attr, bool fill) {
        int cols = COLS;
        if (y >= LINES || cols <= 0) return;
        std::string t = text.size() > size_t(cols) ? text.substr(0, size_t(cols)) : text;
        if (fill) t += std::string(size_t(cols) - t.size(), ' ');
        attron(attr);
        mvaddnstr(y, 0, t.c_str(), cols);
        attroff(attr);
    }

    void header() {
        const auto& f = s_.facts();
        std::string mode = s_.standalone() ? "STANDALONE: probes in-process" : "agent " + s_.socket_path();
        put(0, "tracer top - " + s_.hostname() + " - kernel " + f.kernel + " - tracer " + f.version + " - " + mode,
            term_->attr(kHeader) | A_BOLD, false);
        std::string second = "probes " + std::to_string(f.probes_attached) + " (" + f.probes + ")";
        if (f.probes_failed) second += " " + std::to_string(f.probes_failed) + " failed";
        second += "  drops " + human_count(f.drops);
        second += "  rows " + std::to_string(rows_.size()) + (view_.all_cgroups ? " cgroups" : " containers");
        if (s_.model().interval_seconds() > 0) second += "  every " + human_seconds(s_.model().interval_seconds());
        if (!view_.filter.empty()) second += "  filter '" + view_.filter + "'";
        if (paused_) second += "  PAUSED";
        put(1, second, term_->attr(kHeader), false);
        if (!error_.empty()) put(2, "error: " + error_, term_->attr(kAlert) | A_BOLD, false);
        else if (!s_.model().has_rates()) put(2, "waiting for a second snapshot to compute rates...", term_->attr(kDim), false);
    }

    void footer() {
        std::string keys;
        if (mode_ == Mode::Filter) {
            put(LINES - 1, "filter: " + view_.filter + "_  (Enter apply, Esc clear)", term_->attr(kTitle), true);
            return;
        }
        if (mode_ == Mode::Detail)
            keys = "Esc back  Up/Down scroll  space pause  ? help  q quit";
        else {
            keys = "q quit ? help / filter space pause a all-cgroups Enter detail | sort:";
            for (const auto& c : columns()) keys += std::string(" ") + c.key;
        }
        put(LINES - 1, keys, term_->attr(kTitle), true);
    }

    void draw_list() {
        size_t name_width = 0;
        auto cells = layout(COLS, name_width);
        std::string head;
        for (const auto& c : cells) {
            const auto& info = *std::find_if(columns().begin(), columns().end(), [&](const ColumnInfo& i) { return i.column == c.column; });
            std::string title = info.title;
            if (c.column == view_.sort) title += view_.reverse ? "^" : "v";
            head += cell_string(c, title, nullptr);
        }
        const int top = 3;
        put(top, head, term_->attr(kTitle), true);
        int avail = LINES - top - 2;
        if (avail <= 0) return;
        size_t first = selected_ >= size_t(avail) ? selected_ - size_t(avail) + 1 : 0;
        bool rates = s_.model().has_rates();
        for (int i = 0; i < avail && first + size_t(i) < rows_.size(); ++i) {
            const Row& r = rows_[first + size_t(i)];
            std::string line;
            for (const auto& c : cells) line += cell_string(c, cell_text(r, c.column, rates), &r);
            bool sel = first + size_t(i) == selected_;
            attr_t a = sel ? term_->attr(kSelected) : (r.usage.syscall_errors_per_s > 0 && rates ? A_NORMAL : A_NORMAL);
            put(top + 1 + i, line, a, sel);
        }
        if (rows_.empty())
            put(top + 1, view_.all_cgroups ? "(no cgroups match)"
                                           : "(no containers" + std::string(view_.filter.empty() ? "" : " match") +
                                                 ": press a to show every cgroup)",
                term_->attr(kDim), false);
    }

    std::vector<Line> detail_lines() {
        std::vector<Line> out;
        auto r = s_.model().row(detail_key_, view_.all_cgroups);
        if (!r) {
            out.push_back({"(" + detail_key_ + " is gone)", kDim, false});
            return out;
        }
        bool rates = s_.model().has_rates();
        std::string cg;
        for (const auto& c : r->cgroups) cg += (cg.empty() ? "" : " ") + c;
        out.push_back({r->name + (r->kube_namespace.empty() ? "" : "  namespace " + r->kube_namespace) +
                           (r->image.empty() ? "" : "  image " + r->image) + "  cgroup " + cg,
                       kHeader, false});
        out.push_back({"cpu " + percent(r->cpu_percent) + "%  syscalls/s " + human_count(r->usage.syscalls_per_s) +
                           "  errors/s " + human_count(r->usage.syscall_errors_per_s) + "  execs/s " +
                           human_count(r->usage.execs_per_s) + "  conns opened/s " +
                           human_count(r->usage.connections_opened_per_s) + "  resets/s " + human_count(r->usage.resets_per_s) +
                           "  mem " + human_bytes(r->memory_bytes) +
                           (r->memory_limit && r->memory_bytes && *r->memory_limit > 0
                                ? " of a " + human_bytes(*r->memory_limit) + " limit (" +
                                      percent(*r->memory_bytes / *r->memory_limit * 100) + "%)"
                                : ""),
                       Pair(0), false});
        if (auto limit = cpu_limit_text(*r); !limit.empty()) out.push_back({limit, Pair(0), false});
        if (const auto& p = r->pressure)
            out.push_back({"stalled (PSI, share of the interval; some / all tasks): cpu " + percent(p->cpu_some * 100) +
                               "%  memory " + percent(p->memory_some * 100) + "% / " + percent(p->memory_full * 100) +
                               "%  io " + percent(p->io_some * 100) + "% / " + percent(p->io_full * 100) + "%",
                           Pair(0), false});
        out.push_back({"", Pair(0), false});
        out.push_back({pad("SYSCALL", 18, false) + pad("CALLS/s", 10, true) + pad("ERR/s", 10, true) + pad("P50", 9, true) +
                           pad("P99", 9, true) + pad("MAX", 9, true) + pad("TIME/s", 9, true),
                       kTitle, true});
        std::vector<std::pair<std::string, SyscallUsage>> sc(r->usage.syscalls.begin(), r->usage.syscalls.end());
        std::sort(sc.begin(), sc.end(), [](const auto& a, const auto& b) { return a.second.calls_per_s > b.second.calls_per_s; });
        size_t shown = 0;
        for (const auto& [name, u] : sc) {
            if (rates && u.calls_per_s <= 0) continue;
            if (++shown > 15) break;
            out.push_back({pad(name, 18, false) + pad(human_count(u.calls_per_s), 10, true) +
                               pad(human_count(u.errors_per_s), 10, true) + pad(human_seconds(percentile(u.latency, 0.5)), 9, true) +
                               pad(human_seconds(percentile(u.latency, 0.99)), 9, true) + pad(human_seconds(u.max_seconds), 9, true) +
                               pad(u.timed ? human_seconds(u.seconds_per_s) : "-", 9, true),
                           u.errors_per_s > 0 ? kAlert : Pair(0), false});
        }
        if (shown == 0) out.push_back({"(no syscalls this interval)", kDim, false});
        out.push_back({"", Pair(0), false});
        out.push_back({"RUN-QUEUE LATENCY (this interval)", kTitle, true});
        const auto& b = r->usage.runqueue;
        double most = 0;
        for (double c : b.counts) most = std::max(most, c);
        if (most <= 0) out.push_back({"(no wake-ups measured)", kDim, false});
        else {
            size_t bar_room = size_t(std::max(COLS - 30, 10));
            for (size_t i = 0; i < b.counts.size(); ++i) {
                if (b.counts[i] <= 0) continue;
                std::string le = i < b.bounds.size() ? "<= " + human_seconds(b.bounds[i]) : " > " + human_seconds(b.bounds.back());
                size_t len = std::max<size_t>(1, size_t(b.counts[i] / most * double(bar_room)));
                out.push_back({pad(le, 10, false) + pad(human_count(b.counts[i]), 8, true) + " " + std::string(len, '#'), kBar, false});
            }
            out.push_back({"p50 " + human_seconds(percentile(b, 0.5)) + "  p99 " + human_seconds(percentile(b, 0.99)), Pair(0), false});
        }
        out.push_back({"", Pair(0), false});
        out.push_back({pad("PID", 8, true) + "  " + pad("CPU%", 6, true) + "  COMMAND", kTitle, true});
        size_t n = 0;
        for (const auto& p : processes_) {
            if (++n > 15) {
                out.push_back({"... " + std::to_string(processes_.size() - 15) + " more", kDim, false});
                break;
            }
            out.push_back({pad(std::to_string(p.pid), 8, true) + "  " + pad(percent(p.cpu_percent), 6, true) + "  " + p.command,
                           Pair(0), false});
        }
        if (processes_.empty()) out.push_back({"(no processes)", kDim, false});
        out.push_back({"", Pair(0), false});
        out.push_back({"RECENT EVENTS", kTitle, true});
        auto events = s_.events().of(r->cgroups, 200);
        for (size_t i = 0; i < events.size() && i < 12; ++i)
            out.push_back({describe_event(events[i]), events[i].value("kind", "") == "oom_kill" ? kAlert : Pair(0), false});
        if (events.empty()) {
            std::string kinds;
            for (const auto& k : s_.facts().api_events) kinds += (kinds.empty() ? "" : ",") + k;
            out.push_back({"(none; this agent keeps: " + (kinds.empty() ? std::string("none") : kinds) + " - see api_events)",
                           kDim, false});
        }
        out.push_back({"", Pair(0), false});
        out.push_back({pad("TCP PEER", 30, false) + pad("CONNS", 7, true) + pad("RX", 9, true) + pad("TX", 9, true) +
                           pad("RTT", 9, true),
                       kTitle, true});
        auto peers = tcp_peers(events);
        for (size_t i = 0; i < peers.size() && i < 10; ++i)
            out.push_back({pad(peers[i].remote, 30, false) + pad(std::to_string(peers[i].connections), 7, true) +
                               pad(human_bytes(peers[i].rx_bytes), 9, true) + pad(human_bytes(peers[i].tx_bytes), 9, true) +
                               pad(human_seconds(peers[i].rtt_seconds_avg), 9, true),
                           Pair(0), false});
        if (peers.empty()) out.push_back({"(no closed TCP connections seen)", kDim, false});
        return out;
    }

    void draw_detail() {
        auto lines = detail_lines();
        const int top = 3;
        int avail = LINES - top - 1;
        if (avail <= 0) return;
        size_t max_scroll = lines.size() > size_t(avail) ? lines.size() - size_t(avail) : 0;
        detail_scroll_ = std::min(detail_scroll_, max_scroll);
        for (int i = 0; i < avail && detail_scroll_ + size_t(i) < lines.size(); ++i) {
            const Line& l = lines[detail_scroll_ + size_t(i)];
            put(top + i, l.text, l.pair ? term_->attr(l.pair) : A_NORMAL, l.fill);
        }
    }

    void draw_help() {
        static const char* const text[] = {
            "tracer top: what the kernel sees, per container",
            "",
            "  q            quit                      ?  this help",
            "  /            filter rows (name, id, image, pod, namespace, cgroup); Esc clears",
            "  space        pause / resume refreshing",
            "  a            containers only / every cgroup",
            "  Up/Down j/k  select a row              Enter  details of the row",
            "  Esc          back from details",
            "",
            "Sort (the same key again reverses):",
        };
        int y = 3;
        for (const char* t : text) put(y++, t, A_NORMAL, false);
        std::string line = " ";
        for (const auto& c : columns()) {
            std::string entry = std::string(" ") + c.key + " " + c.title;
            if (line.size() + entry.size() > size_t(std::max(COLS, 20))) {
                put(y++, line, A_NORMAL, false);
                line = " ";
            }
            line += pad(entry, 15, false);
        }
        put(y++, line, A_NORMAL, false);
        put(y + 1, "Any key returns.", term_->attr(kDim), false);
    }

    void draw() {
        if (mode_ == Mode::List) {  // (before the header, which counts them)
            rows_ = s_.model().rows(view_);
            if (!rows_.empty() && selected_ >= rows_.size()) selected_ = rows_.size() - 1;
        }
        erase();
        header();
        if (mode_ == Mode::Help) draw_help();
        else if (mode_ == Mode::Detail) draw_detail();
        else draw_list();
        footer();
        refresh();
    }

    TopSession& s_;
    const ScreenOptions& opt_;
    CursesTerminal* term_ = nullptr;
    Mode mode_ = Mode::List;
    ViewOptions view_;
    std::vector<Row> rows_;
    size_t selected_ = 0;
    std::string detail_key_;
    size_t detail_scroll_ = 0;
    std::vector<ProcessRow> processes_;
    bool paused_ = false;
    std::string error_;
};

}  // namespace

int run_screen(TopSession& session, const ScreenOptions& options) {
    return Screen(session, options).run();
}

}  // namespace tracer::top
