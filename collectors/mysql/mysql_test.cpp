// The mysql plugin against real MariaDB servers started by the suite: a
// primary and a replica of it (both from one mariadb-install-db data directory).
#include "plugin_harness.h"

#include "config/agent_config.h"

#include <gtest/gtest.h>
#include <mysql.h>

#include <signal.h>

#include <filesystem>
#include <thread>

namespace tracer::plugin_tests {
namespace {

using collectors::CheckStatus;

constexpr const char* kMariadbd = "/usr/sbin/mariadbd";
constexpr const char* kInstallDb = "/usr/bin/mariadb-install-db";
constexpr int kMaxConnections = 77;

// A root session over the server's Unix socket (unix_socket authentication).
class RootSession {
public:
    explicit RootSession(const std::string& socket) : m_(mysql_init(nullptr)) {
        if (!mysql_real_connect(m_, nullptr, "root", nullptr, nullptr, 0, socket.c_str(), 0))
            throw std::runtime_error("connect " + socket + ": " + mysql_error(m_));
    }
    ~RootSession() { mysql_close(m_); }
    RootSession(const RootSession&) = delete;
    RootSession& operator=(const RootSession&) = delete;
    void exec(const std::string& sql) {
        if (mysql_query(m_, sql.c_str()) != 0) throw std::runtime_error(sql + ": " + mysql_error(m_));
        if (MYSQL_RES* r = mysql_store_result(m_)) mysql_free_result(r);
    }
    // `column` of the first row of `sql`; "" if no row or NULL.
    std::string value(const std::string& sql, const std::string& column) {
        if (mysql_query(m_, sql.c_str()) != 0) throw std::runtime_error(sql + ": " + mysql_error(m_));
        MYSQL_RES* r = mysql_store_result(m_);
        if (!r) return "";
        std::string out;
        MYSQL_ROW row = mysql_fetch_row(r);
        MYSQL_FIELD* fields = mysql_fetch_fields(r);
        for (unsigned i = 0; row && i < mysql_num_fields(r); ++i)
            if (fields[i].name == column && row[i]) out = row[i];
        mysql_free_result(r);
        return out;
    }

private:
    MYSQL* m_;
};

struct MariaDbPair {
    std::string skip_reason, start_error;
    std::unique_ptr<TempDir> dir;
    uint16_t primary_port = 0, replica_port = 0;
    std::unique_ptr<RunningServer> primary, replica;

    const std::vector<std::string> small = {"--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"};

    MariaDbPair() {
        skip_reason = missing_binary({{kMariadbd, "mariadb-server"}, {kInstallDb, "mariadb-server"}});
        if (!skip_reason.empty()) return;
        dir = std::make_unique<TempDir>("tracer-mariadb");
        std::vector<std::string> install = {kInstallDb, "--no-defaults", "--datadir=" + dir->file("primary"),
                                            "--user=root", "--auth-root-authentication-method=socket",
                                            "--skip-test-db"};
        install.insert(install.end(), small.begin(), small.end());
        fixtures::Subprocess installer(install);
        if (installer.wait_for(std::chrono::seconds(120)) != 0) {
            start_error = "mariadb-install-db failed: " + installer.output();
            return;
        }
        std::filesystem::copy(dir->file("primary"), dir->file("replica"), std::filesystem::copy_options::recursive);
        primary_port = fixtures::free_tcp_port();
        primary = start("primary", primary_port, {"--server-id=1", "--log-bin=" + dir->file("primary/binlog"),
                                                  "--max-connections=" + std::to_string(kMaxConnections)});
        if (!start_error.empty()) return;
        replica_port = fixtures::free_tcp_port();
        replica = start("replica", replica_port, {"--server-id=2"});
        if (!start_error.empty()) return;
        try {
            RootSession p(socket("primary"));
            p.exec("CREATE USER 'tracer'@'127.0.0.1' IDENTIFIED BY 's3cret'");
            p.exec("GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'tracer'@'127.0.0.1'");
            p.exec("CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'r3pl'");
            p.exec("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'");
            RootSession r(socket("replica"));  // replays the above from the primary's binlog
            r.exec("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=" + std::to_string(primary_port) +
                   ", MASTER_USER='repl', MASTER_PASSWORD='r3pl', MASTER_CONNECT_RETRY=1");
            r.exec("START SLAVE");
            // Until the replica has connected (its IO thread runs a few SELECTs
            // on the primary first) and caught up, so the tests' counts are theirs.
            for (int i = 0; i < 300; ++i) {
                if (r.value("SHOW SLAVE STATUS", "Slave_IO_Running") == "Yes" &&
                    r.value("SHOW SLAVE STATUS", "Seconds_Behind_Master") == "0")
                    return;
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            start_error = "the replica did not start replicating in 30 s";
        } catch (const std::exception& e) {
            start_error = e.what();
        }
    }

    std::string socket(const std::string& name) const { return dir->file(name + ".sock"); }

    std::unique_ptr<RunningServer> start(const std::string& name, uint16_t port, std::vector<std::string> extra) {
        std::vector<std::string> argv = {kMariadbd, "--no-defaults", "--datadir=" + dir->file(name),
                                         "--socket=" + socket(name), "--port=" + std::to_string(port),
                                         "--bind-address=127.0.0.1", "--user=root", "--skip-name-resolve",
                                         "--pid-file=" + dir->file(name + ".pid")};
        argv.insert(argv.end(), small.begin(), small.end());
        argv.insert(argv.end(), extra.begin(), extra.end());
        auto server = std::make_unique<RunningServer>(argv, SIGTERM);
        if (!server->wait_port(port, start_error)) start_error = "mariadbd " + name + ": " + start_error;
        return server;
    }

    std::string instance(uint16_t port, const std::string& more = "") const {
        return "host: 127.0.0.1\nport: " + std::to_string(port) + "\nusername: tracer\npassword: s3cret\n" + more;
    }
};

class MysqlPlugin : public ::testing::Test {
protected:
    static void SetUpTestSuite() { db_ = std::make_unique<MariaDbPair>(); }
    static void TearDownTestSuite() { db_.reset(); }
    void SetUp() override {
        if (!db_->skip_reason.empty()) GTEST_SKIP() << db_->skip_reason;
        ASSERT_EQ(db_->start_error, "");
    }
    static std::unique_ptr<MariaDbPair> db_;
};
std::unique_ptr<MariaDbPair> MysqlPlugin::db_;

TEST_F(MysqlPlugin, SelectsAndConnectionsCountExactly) {
    auto check = make_check("mysql", db_->instance(db_->primary_port));
    auto first = run_once(*check);
    ASSERT_EQ(first.error, "") << first.dump();
    ASSERT_NE(first.check("mysql.can_connect"), nullptr);
    EXPECT_EQ(first.check("mysql.can_connect")->status, CheckStatus::Ok);

    constexpr int kSelects = 9;
    RootSession session(db_->socket("primary"));
    for (int i = 0; i < kSelects; ++i) session.exec("SELECT " + std::to_string(i));
    auto second = run_once(*check);
    ASSERT_EQ(second.error, "") << second.dump();
    auto delta = [&](const std::string& name) {
        return second.value(name).value_or(-1000) - first.value(name).value_or(-2000);
    };
    // The check's own statements are SHOWs, over the one connection it keeps.
    EXPECT_EQ(delta("mysql.performance.com_select"), kSelects);
    EXPECT_EQ(delta("mysql.net.connections"), 1) << "the test's session";
    EXPECT_EQ(delta("mysql.performance.threads_connected"), 1);
    EXPECT_EQ(second.point("mysql.performance.com_select")->kind, RecordingCheckRun::Kind::Rate);
    EXPECT_EQ(second.value("mysql.net.max_connections_available"), kMaxConnections);
    auto total = second.value("mysql.innodb.buffer_pool_total");
    ASSERT_TRUE(total) << second.dump();
    EXPECT_LE(*total, 16 << 20) << "innodb_buffer_pool_size=16M";
    EXPECT_EQ(*second.value("mysql.innodb.buffer_pool_used") + *second.value("mysql.innodb.buffer_pool_free"), total);
}

TEST_F(MysqlPlugin, ExtraStatusMetricsAreOptIn) {
    auto plain = run_once(*make_check("mysql", db_->instance(db_->primary_port)));
    auto extra = run_once(*make_check("mysql", db_->instance(db_->primary_port, "extra_status_metrics: true\n"
                                                                                "extra_innodb_metrics: true\n")));
    ASSERT_EQ(extra.error, "") << extra.dump();
    EXPECT_FALSE(plain.value("mysql.performance.handler_read_rnd_next"));
    EXPECT_TRUE(extra.value("mysql.performance.handler_read_rnd_next"));
    EXPECT_EQ(extra.value("mysql.innodb.buffer_pool_pages_total").value_or(-1) * 16384,
              extra.value("mysql.innodb.buffer_pool_total"));
    EXPECT_EQ(extra.point("mysql.performance.threads_created")->kind, RecordingCheckRun::Kind::MonotonicCount);
}

TEST_F(MysqlPlugin, ReplicationStatusOfTheReplicaAndThePrimary) {
    auto replica = make_check("mysql", db_->instance(db_->replica_port, "replication: true\n"));
    RecordingCheckRun run(std::chrono::steady_clock::now());
    for (int i = 0; i < 200; ++i) {  // the replica connects and catches up
        run = run_once(*replica);
        if (run.value("mysql.replication.replica_running") == 1 &&
            run.value("mysql.replication.seconds_behind_master") == 0)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(run.error, "") << run.dump();
    EXPECT_EQ(run.value("mysql.replication.replica_running"), 1) << run.dump();
    EXPECT_EQ(run.value("mysql.replication.slave_running"), 1);
    EXPECT_EQ(run.value("mysql.replication.seconds_behind_master"), 0);
    EXPECT_EQ(run.value("mysql.replication.seconds_behind_source"), 0);
    ASSERT_NE(run.check("mysql.replication.replica_running"), nullptr);
    EXPECT_EQ(run.check("mysql.replication.replica_running")->status, CheckStatus::Ok);

    auto primary = run_once(*make_check("mysql", db_->instance(db_->primary_port, "replication: true\n")));
    ASSERT_EQ(primary.error, "") << primary.dump();
    EXPECT_EQ(primary.value("mysql.replication.replicas_connected"), 1) << primary.dump();
    EXPECT_FALSE(primary.value("mysql.replication.replica_running")) << "the primary is no replica";

    RootSession(db_->socket("replica")).exec("STOP SLAVE");
    run = run_once(*replica);
    EXPECT_EQ(run.value("mysql.replication.replica_running"), 0);
    EXPECT_FALSE(run.value("mysql.replication.seconds_behind_master")) << "NULL while stopped";
    ASSERT_NE(run.check("mysql.replication.replica_running"), nullptr);
    EXPECT_EQ(run.check("mysql.replication.replica_running")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("mysql.replication.replica_running")->message.find("IO thread: No"), std::string::npos)
        << run.check("mysql.replication.replica_running")->message;
    EXPECT_EQ(run.check("mysql.can_connect")->status, CheckStatus::Ok);
    RootSession(db_->socket("replica")).exec("START SLAVE");
}

TEST_F(MysqlPlugin, AWrongPasswordIsCriticalWithTheReason) {
    auto check = make_check("mysql", "host: 127.0.0.1\nport: " + std::to_string(db_->primary_port) +
                                         "\nusername: tracer\npassword: not-the-secret\n");
    auto run = run_once(*check);
    ASSERT_NE(run.check("mysql.can_connect"), nullptr);
    EXPECT_EQ(run.check("mysql.can_connect")->status, CheckStatus::Critical);
    const auto& message = run.check("mysql.can_connect")->message;
    EXPECT_NE(message.find("Access denied for user 'tracer'@'127.0.0.1'"), std::string::npos) << message;
    EXPECT_EQ(message.find("not-the-secret"), std::string::npos) << "the password leaked";
    EXPECT_TRUE(run.recorded.empty());
}

TEST_F(MysqlPlugin, AStoppedServerIsCriticalWithTheReason) {
    auto check = make_check("mysql", db_->instance(fixtures::free_tcp_port()));
    auto run = run_once(*check);
    ASSERT_NE(run.check("mysql.can_connect"), nullptr);
    EXPECT_EQ(run.check("mysql.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("mysql.can_connect")->message.find("Can't connect to server on '127.0.0.1'"), std::string::npos)
        << run.check("mysql.can_connect")->message;
}

TEST_F(MysqlPlugin, ConfigErrorsNameTheFileAndLine) {
    try {
        make_check("mysql", "host: 127.0.0.1\nport: 99999\nusername: x\n", "/etc/tracer/conf.d/mysql.yaml");
        FAIL();
    } catch (const config::ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "/etc/tracer/conf.d/mysql.yaml:2: mysql instance 0: 'port' must be an integer in 1..65535");
    }
    EXPECT_THROW(make_check("mysql", "host: 127.0.0.1\n"), config::ConfigError);
    EXPECT_THROW(make_check("mysql", "username: x\npassword: a\npassword_env: B\n"), config::ConfigError);
}

}  // namespace
}  // namespace tracer::plugin_tests
