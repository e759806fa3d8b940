// `tracer top` in a real terminal: tmux (120x40) runs it against a real
// agent that names a real Docker container; the test types keys and reads
// the screen with `tmux capture-pane -p`.
#include "containers/cgroup_layout.h"
#include "docker_engine.h"
#include "fixtures.h"
#include "tracer_agent.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::ApiAgent;
using tracer::fixtures::DockerEngine;
using tracer::fixtures::HeldChild;
using tracer::fixtures::Subprocess;
using tracer::fixtures::TestCgroup;

namespace {

std::string sh(const std::string& cmd) {
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
        pclose(p);
    }
    return out;
}

// One tmux server of the test's own (-L), one session.
class Tmux {
public:
    Tmux(int cols, int rows) : server_("tracer-top-test-" + std::to_string(getpid())) {
        sh(base() + " new-session -d -s top -x " + std::to_string(cols) + " -y " + std::to_string(rows) +
           " 'env TERM=xterm-256color PS1=\"$ \" sh'");
    }
    ~Tmux() { sh(base() + " kill-server 2>/dev/null"); }
    std::string base() const { return "tmux -L " + server_ + " -f /dev/null"; }
    void type(const std::string& literal) { sh(base() + " send-keys -t top -l '" + literal + "'"); }
    void key(const std::string& name) { sh(base() + " send-keys -t top " + name); }
    std::string screen() { return sh(base() + " capture-pane -p -t top"); }
    void resize(int cols, int rows) {
        sh(base() + " resize-window -t top -x " + std::to_string(cols) + " -y " + std::to_string(rows));
    }
    // Until the screen satisfies `ok`; the last screen either way.
    template <typename Pred>
    std::string wait_screen(Pred ok, std::chrono::seconds timeout = 30s) {
        auto end = std::chrono::steady_clock::now() + timeout;
        std::string s;
        do {
            s = screen();
            if (ok(s)) return s;
            std::this_thread::sleep_for(200ms);
        } while (std::chrono::steady_clock::now() < end);
        return s;
    }

private:
    std::string server_;
};

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
    return out;
}

// The table on screen: the column titles' line, and for a row containing
// `needle` the text of column `title` (right-aligned under its title).
struct Table {
    std::string header;
    std::vector<std::string> rows;
};
Table table_of(const std::string& screen) {
    Table t;
    bool in = false;
    for (const auto& l : lines_of(screen)) {
        if (l.rfind("NAME", 0) == 0) {
            t.header = l;
            in = true;
            continue;
        }
        if (!in) continue;
        if (l.empty() || l.rfind("q quit", 0) == 0 || l.rfind("filter:", 0) == 0) break;
        t.rows.push_back(l);
    }
    return t;
}
std::string cell(const Table& t, const std::string& row, const std::string& title) {
    auto at = t.header.find(title);
    if (at == std::string::npos || row.size() < at) return "";
    // Numbers are right-aligned in 8 columns ending where the title (plus a sort mark) ends.
    size_t end = at + title.size();
    if (end < t.header.size() && (t.header[end] == 'v' || t.header[end] == '^')) ++end;
    size_t begin = end >= 8 ? end - 8 : 0;
    std::string v = row.substr(begin, end - begin);
    v.erase(0, v.find_first_not_of(' '));
    v.erase(v.find_last_not_of(' ') + 1);
    return v;
}
const std::string* row_with(const Table& t, const std::string& needle) {
    for (const auto& r : t.rows)
        if (r.find(needle) != std::string::npos) return &r;
    return nullptr;
}
// The NAME column of every row, as shown (long names are cut on screen, so
// their order on screen need not be byte order: compare orders, not bytes).
std::vector<std::string> names(const Table& t) {
    std::vector<std::string> out;
    size_t width = t.header.find(" CPU%");
    for (const auto& r : t.rows) {
        std::string n = r.substr(0, width);
        n.erase(n.find_last_not_of(' ') + 1);
        out.push_back(n);
    }
    return out;
}
bool nonzero(const std::string& v) { return !v.empty() && v != "-" && v != "0" && v != "0.0"; }

}  // namespace

class TopScreen : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        skip_ = tracer::fixtures::root_skip_reason();
        if (skip_.empty()) skip_ = DockerEngine::skip_reason();
        if (skip_.empty() && sh("command -v tmux").empty()) skip_ = "tmux is not installed (scripts/install-deps.sh --test)";
        if (!skip_.empty()) return;
        try {
            engine_ = std::make_unique<DockerEngine>();
        } catch (const std::exception& e) {
            setup_error_ = e.what();
        }
    }
    static void TearDownTestSuite() { engine_.reset(); }
    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
        ASSERT_TRUE(engine_) << "the test dockerd did not start: " << setup_error_;
    }
    static inline std::string skip_, setup_error_;
    static inline std::unique_ptr<DockerEngine> engine_;
};

TEST_F(TopScreen, ContainersSortFilterDrillDownResizeAndQuit) {
    // A container and a named cgroup, both busy with syscalls.
    const std::string name = "tracer-top-web";
    engine_->try_docker({"rm", "-f", name});
    engine_->docker({"run", "-d", "--name", name, engine_->image(), "sh", "-c",
                     "while :; do dd if=/dev/zero of=/dev/null bs=1 count=3000 2>/dev/null; usleep 20000; done"});
    TestCgroup cgroup("top-screen");
    HeldChild busy([] {
        for (;;) {
            for (int i = 0; i < 2000; ++i) (void)getppid();
            usleep(2000);
        }
    });
    cgroup.add(busy.pid());
    busy.release();
    const std::string cgroup_path = cgroup.path(*tracer::fixtures::auto_keying_mount());
    // The row shows the end of a long path: look for the end of the leaf.
    const std::string leaf = std::to_string(getpid()) + "-top-screen";
    ASSERT_NE(cgroup_path.find(leaf), std::string::npos) << cgroup_path;

    ApiAgent agent(TRACER_BINARY, "docker_socket: \"" + engine_->socket() + "\"\n");
    Tmux tmux(120, 40);
    std::string exit_file = agent.dir() + "/exit";
    // (`top-exit""ed`: the typed line must not contain the marker its output
    // prints, or the restored screen would show it before the exit code is written)
    tmux.type(std::string(TRACER_BINARY) + " top -d 1 --socket " + agent.socket() + "; echo EXIT=$? > " + exit_file +
              "; echo top-exit\"\"ed");
    tmux.key("Enter");

    // The container's row, with syscalls/s > 0 (rates need two snapshots).
    std::string screen = tmux.wait_screen([&](const std::string& s) {
        Table t = table_of(s);
        const std::string* r = row_with(t, name);
        return r && nonzero(cell(t, *r, "SYSC/s"));
    });
    Table t = table_of(screen);
    ASSERT_NE(row_with(t, name), nullptr) << screen << agent.process().output();
    EXPECT_NE(screen.find("tracer top - "), std::string::npos) << screen;
    EXPECT_NE(screen.find("agent " + agent.socket()), std::string::npos) << screen;
    EXPECT_EQ(row_with(t, leaf), nullptr) << "a plain cgroup in the container view:\n" << screen;

    // `a`: every cgroup; the named cgroup shows up, busy too. (The whole frame:
    // a capture may come while the terminal is still drawing it.)
    tmux.type("a");
    screen = tmux.wait_screen([&](const std::string& s) {
        Table tt = table_of(s);
        const std::string* r = row_with(tt, leaf);
        return r && nonzero(cell(tt, *r, "SYSC/s")) && tt.rows.size() >= 3;
    });
    t = table_of(screen);
    ASSERT_NE(row_with(t, leaf), nullptr) << screen;
    ASSERT_GE(t.rows.size(), 3u) << screen;

    // Sort by name (`n`), then the same key again reverses the order.
    tmux.type(" ");  // pause: the rows keep their values while we compare orders
    tmux.type("n");
    screen = tmux.wait_screen([](const std::string& s) { return table_of(s).header.find("NAMEv") != std::string::npos; });
    Table by_name = table_of(screen);
    ASSERT_NE(by_name.header.find("NAMEv"), std::string::npos) << screen;
    EXPECT_EQ(names(by_name).front(), "/") << screen;  // "/" sorts before every other path and name
    tmux.type("n");
    screen = tmux.wait_screen([](const std::string& s) { return table_of(s).header.find("NAME^") != std::string::npos; });
    Table reversed = table_of(screen);
    auto back = names(reversed);
    std::reverse(back.begin(), back.end());
    EXPECT_EQ(back, names(by_name)) << screen;  // the same rows, the other way round
    EXPECT_NE(by_name.rows.front(), reversed.rows.front()) << screen;
    // Sort by syscalls/s: the busiest first.
    tmux.type("s");
    screen = tmux.wait_screen([](const std::string& s) { return table_of(s).header.find("SYSC/sv") != std::string::npos; });
    EXPECT_NE(table_of(screen).rows.front(), by_name.rows.front()) << screen;
    tmux.type(" ");  // resume

    // Filter `/`: only the container's rows remain.
    tmux.type("/" + name);
    tmux.key("Enter");
    screen = tmux.wait_screen([&](const std::string& s) {
        Table tt = table_of(s);
        return s.find("filter '" + name + "'") != std::string::npos && !tt.rows.empty() && row_with(tt, leaf) == nullptr;
    });
    t = table_of(screen);
    ASSERT_FALSE(t.rows.empty()) << screen;
    for (const auto& r : t.rows) EXPECT_NE(r.find(name), std::string::npos) << screen;
    EXPECT_NE(screen.find("filter '" + name + "'"), std::string::npos) << screen;

    // Back to the container view, filtered to it: Enter shows its syscall table.
    tmux.type("a");
    screen = tmux.wait_screen([&](const std::string& s) {
        Table tt = table_of(s);
        return tt.rows.size() == 1 && row_with(tt, name);
    });
    tmux.key("Enter");
    screen = tmux.wait_screen([](const std::string& s) {
        return s.find("CALLS/s") != std::string::npos && s.find("\nwrite ") != std::string::npos;
    });
    ASSERT_NE(screen.find("SYSCALL"), std::string::npos) << screen;
    ASSERT_NE(screen.find("\nwrite "), std::string::npos) << screen;  // dd's one-byte writes
    for (const auto& l : lines_of(screen))
        if (l.rfind("write ", 0) == 0) {
            std::istringstream fields(l);
            std::string syscall, calls;
            fields >> syscall >> calls;
            EXPECT_TRUE(nonzero(calls)) << l;
        }
    EXPECT_NE(screen.find(name), std::string::npos) << screen;
    EXPECT_NE(screen.find("RUN-QUEUE LATENCY"), std::string::npos) << screen;
    EXPECT_NE(screen.find("COMMAND"), std::string::npos) << screen;
    tmux.key("Escape");
    screen = tmux.wait_screen([](const std::string& s) { return !table_of(s).header.empty(); });
    ASSERT_FALSE(table_of(screen).header.empty()) << screen;

    // 80x24: still a header, the titles that fit, the row, nothing wider.
    tmux.resize(80, 24);
    screen = tmux.wait_screen([&](const std::string& s) {
        auto ls = lines_of(s);
        return ls.size() <= 24 && row_with(table_of(s), name) != nullptr;
    });
    auto ls = lines_of(screen);
    EXPECT_LE(ls.size(), 24u) << screen;
    for (const auto& l : ls) EXPECT_LE(l.size(), 80u) << l;
    t = table_of(screen);
    EXPECT_NE(t.header.find("CPU%"), std::string::npos) << screen;
    EXPECT_NE(t.header.find("SYSC/s"), std::string::npos) << screen;
    ASSERT_NE(row_with(t, name), nullptr) << screen;
    EXPECT_NE(screen.find("tracer top - "), std::string::npos) << screen;
    EXPECT_NE(screen.find("q quit"), std::string::npos) << screen;

    // `q`: exit 0 and the shell's screen is back (the view is gone).
    tmux.type("q");
    screen = tmux.wait_screen([](const std::string& s) { return s.find("top-exited") != std::string::npos; });
    EXPECT_NE(screen.find("top-exited"), std::string::npos) << screen;
    EXPECT_EQ(screen.find("SYSC/s"), std::string::npos) << "the terminal was not restored:\n" << screen;
    std::string code;
    std::getline(std::ifstream(exit_file) >> std::ws, code);
    EXPECT_EQ(code, "EXIT=0");

    // `-a` starts with every cgroup: the named cgroup without a key pressed.
    tmux.type(std::string(TRACER_BINARY) + " top -a -d 1 --socket " + agent.socket());
    tmux.key("Enter");
    screen = tmux.wait_screen([&](const std::string& s) { return row_with(table_of(s), leaf) != nullptr; });
    EXPECT_NE(row_with(table_of(screen), leaf), nullptr) << screen;
    EXPECT_NE(screen.find(" cgroups"), std::string::npos) << screen;
    tmux.type("q");

    kill(busy.pid(), SIGKILL);
    busy.wait();
    engine_->try_docker({"rm", "-f", name});
}
