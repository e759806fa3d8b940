// The mysql plugin against real MariaDB servers: a primary the suite starts
// and, for the replication test, a replica of it (both from one
// mariadb-install-db data directory).
#include "tests/plugins/plugin_harness.h"
#include "plugin_check.h"
#include "plugin_servers.h"

#include "config/agent_config.h"

#include <gtest/gtest.h>
#include <mysql.h>

#include <unistd.h>

#include <filesystem>
#include <thread>

namespace tracer::plugin_tests {
namespace {

using collectors::CheckStatus;

using fixtures::MariaDbPrimary;
using fixtures::mariadb_server;
using RootSession = fixtures::MariaDbRootSession;
constexpr int kMaxConnections = fixtures::kMariaDbMaxConnections;

std::string instance(uint16_t port, const std::string& more = "") {
    return "host: 127.0.0.1\nport: " + std::to_string(port) + "\nusername: tracer\npassword: s3cret\n" + more;
}

class MysqlPlugin : public ::testing::Test {
protected:
    static void SetUpTestSuite() { db_ = std::make_unique<MariaDbPrimary>(); }
    static void TearDownTestSuite() { db_.reset(); }
    void SetUp() override {
        if (!db_->skip_reason.empty()) GTEST_SKIP() << db_->skip_reason;
        ASSERT_EQ(db_->start_error, "");
    }
    static std::unique_ptr<MariaDbPrimary> db_;
};
std::unique_ptr<MariaDbPrimary> MysqlPlugin::db_;

TEST_F(MysqlPlugin, SelectsAndConnectionsCountExactly) {
    auto check = make_check("mysql", instance(db_->server.port()));
    auto first = run_once(*check);
    ASSERT_EQ(first.error, "") << first.dump();
    ASSERT_NE(first.check("mysql.can_connect"), nullptr);
    EXPECT_EQ(first.check("mysql.can_connect")->status, CheckStatus::Ok);

    constexpr int kSelects = 9;
    RootSession session(db_->socket());
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
    EXPECT_EQ(second.point("mysql.performance.com_select")->kind, collectors::MetricKind::Rate);
    EXPECT_EQ(second.value("mysql.net.max_connections_available"), kMaxConnections);
    auto total = second.value("mysql.innodb.buffer_pool_total");
    ASSERT_TRUE(total) << second.dump();
    EXPECT_LE(*total, 16 << 20) << "innodb_buffer_pool_size=16M";
    EXPECT_EQ(*second.value("mysql.innodb.buffer_pool_used") + *second.value("mysql.innodb.buffer_pool_free"), total);
    // The other derived ones: each reads names beside the tables' (the check asks only for those it reads).
    EXPECT_TRUE(second.value("mysql.innodb.buffer_pool_utilization")) << second.dump();
    EXPECT_TRUE(second.value("mysql.myisam.key_buffer_bytes_used")) << second.dump();
    EXPECT_TRUE(second.value("mysql.myisam.key_buffer_bytes_unflushed")) << second.dump();
    EXPECT_TRUE(second.value("mysql.performance.key_cache_utilization")) << second.dump();
    EXPECT_TRUE(second.value("mysql.performance.thread_cache_size")) << second.dump();

    // Opt-in groups.
    const auto& plain = second;
    // Datadog's layout, the flags under options:
    auto extra = run_once(*make_check("mysql", instance(db_->server.port(), "options:\n  extra_status_metrics: true\n"
                                                                                "  extra_innodb_metrics: true\n")));
    ASSERT_EQ(extra.error, "") << extra.dump();
    EXPECT_FALSE(plain.value("mysql.performance.handler_read_rnd_next"));
    EXPECT_TRUE(extra.value("mysql.performance.handler_read_rnd_next"));
    EXPECT_EQ(extra.value("mysql.innodb.buffer_pool_pages_total").value_or(-1) * 16384,
              extra.value("mysql.innodb.buffer_pool_total"));
    EXPECT_EQ(extra.point("mysql.performance.threads_created")->kind, collectors::MetricKind::MonotonicCount);
}

TEST_F(MysqlPlugin, ReplicationStatusOfTheReplicaAndThePrimary) {
    // A replica from the pristine data directory: it replays the primary's
    // binary log from the start (the users included).
    fixtures::ServerProcess server = mariadb_server({"--server-id=2"});
    std::filesystem::copy(db_->server.dir() + "/pristine", server.dir() + "/data", std::filesystem::copy_options::recursive);
    ASSERT_TRUE(server.start()) << server.output();
    const std::string replica_socket = server.dir() + "/mysqld.sock";
    RootSession(replica_socket).exec("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=" +
                                     std::to_string(db_->server.port()) +
                                     ", MASTER_USER='repl', MASTER_PASSWORD='r3pl', MASTER_CONNECT_RETRY=1");
    RootSession(replica_socket).exec("START SLAVE");

    auto replica = make_check("mysql", instance(server.port(), "replication: true\n"));
    RecordingCheckRun run(std::chrono::steady_clock::now());
    for (int i = 0; i < 300; ++i) {  // the replica connects and catches up
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

    auto primary = run_once(*make_check("mysql", instance(db_->server.port(), "replication: true\n")));
    ASSERT_EQ(primary.error, "") << primary.dump();
    EXPECT_EQ(primary.value("mysql.replication.replicas_connected"), 1) << primary.dump();
    EXPECT_FALSE(primary.value("mysql.replication.replica_running")) << "the primary is no replica";

    RootSession(replica_socket).exec("STOP SLAVE");
    run = run_once(*replica);
    EXPECT_EQ(run.value("mysql.replication.replica_running"), 0);
    EXPECT_FALSE(run.value("mysql.replication.seconds_behind_master")) << "NULL while stopped";
    ASSERT_NE(run.check("mysql.replication.replica_running"), nullptr);
    EXPECT_EQ(run.check("mysql.replication.replica_running")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("mysql.replication.replica_running")->message.find("IO thread: No"), std::string::npos)
        << run.check("mysql.replication.replica_running")->message;
    EXPECT_EQ(run.check("mysql.can_connect")->status, CheckStatus::Ok);
}

// The check keeps its connection; when the server ends it between two runs
// (a restart, wait_timeout, KILL), the next run connects again within the run
// instead of failing.
TEST_F(MysqlPlugin, AConnectionEndedBetweenRunsCostsNoFailedRun) {
    auto check = make_check("mysql", instance(db_->server.port()));
    ASSERT_EQ(run_once(*check).error, "");
    RootSession session(db_->socket());
    auto connection = [&] { return session.value("SELECT id FROM information_schema.processlist WHERE user = 'tracer'", "id"); };
    std::string id = connection();
    ASSERT_NE(id, "");
    EXPECT_EQ(run_once(*check).error, "");
    EXPECT_EQ(connection(), id) << "the check connected again";

    session.exec("KILL " + id);
    auto after = run_once(*check);
    EXPECT_EQ(after.error, "") << after.dump();
    ASSERT_NE(after.check("mysql.can_connect"), nullptr);
    EXPECT_EQ(after.check("mysql.can_connect")->status, CheckStatus::Ok);
    EXPECT_TRUE(after.value("mysql.net.max_connections_available")) << after.dump();
    EXPECT_NE(connection(), id);
}

TEST_F(MysqlPlugin, AWrongPasswordOrNoServerIsCriticalWithTheReason) {
    auto check = make_check("mysql", "host: 127.0.0.1\nport: " + std::to_string(db_->server.port()) +
                                         "\nusername: tracer\npassword: not-the-secret\n");
    auto run = run_once(*check);
    ASSERT_NE(run.check("mysql.can_connect"), nullptr);
    EXPECT_EQ(run.check("mysql.can_connect")->status, CheckStatus::Critical);
    const auto& message = run.check("mysql.can_connect")->message;
    EXPECT_NE(message.find("Access denied for user 'tracer'@'127.0.0.1'"), std::string::npos) << message;
    EXPECT_EQ(message.find("not-the-secret"), std::string::npos) << "the password leaked";
    EXPECT_TRUE(run.metrics.empty());

    // Nothing on the port: the server is gone.
    check = make_check("mysql", instance(fixtures::free_tcp_port()));
    run = run_once(*check);
    ASSERT_NE(run.check("mysql.can_connect"), nullptr);
    EXPECT_EQ(run.check("mysql.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("mysql.can_connect")->message.find("Can't connect to server on '127.0.0.1'"), std::string::npos)
        << run.check("mysql.can_connect")->message;
}

// The agent's own path: conf.d text -> loader (every key known) -> runner.
TEST_F(MysqlPlugin, RunsUnderTheAgentsRunner) {
    fixtures::PluginUnderTest plugin("mysql", "init_config:\ninstances:\n  - host: 127.0.0.1\n    port: " +
                                                  std::to_string(db_->server.port()) +
                                                  "\n    username: tracer\n    password: s3cret\n    options:\n"
                                                  "      replication: true\n");
    auto report = plugin.run();
    EXPECT_EQ(report.last_error, "");
    EXPECT_EQ(fixtures::service_check_of(report, "mysql.can_connect"), CheckStatus::Ok);
    EXPECT_GE(fixtures::metric_of(report, "mysql.net.max_connections_available"), 0);
}

TEST(MysqlPluginConfig, ErrorsNameTheFileAndLine) {
    try {
        make_check("mysql", "host: 127.0.0.1\nport: 99999\nusername: x\n", "/etc/tracer/conf.d/mysql.yaml");
        FAIL();
    } catch (const config::ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "/etc/tracer/conf.d/mysql.yaml:2: mysql instance 0: 'port' must be a number from 1 to 65535, got '99999'");
    }
    EXPECT_THROW(make_check("mysql", "host: 127.0.0.1\n"), config::ConfigError);
    EXPECT_THROW(make_check("mysql", "username: x\npassword: a\npassword_env: B\n"), config::ConfigError);
    try {
        make_check("mysql", "username: x\noptions:\n  replication: true\n  galera_cluster: true\n",
                   "/etc/tracer/conf.d/mysql.yaml");
        FAIL();
    } catch (const config::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("/etc/tracer/conf.d/mysql.yaml:4: mysql instance 0: unknown key "
                                             "'options.galera_cluster'"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace tracer::plugin_tests
