// The postgres plugin against real PostgreSQL servers: a primary the suite
// starts (initdb, then postgres as the postgres user) and, for the
// replication test, a standby made from it with pg_basebackup.
#include "tests/plugins/plugin_harness.h"
#include "plugin_check.h"
#include "plugin_servers.h"

#include "config/agent_config.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <pwd.h>

#include <filesystem>
#include <thread>

namespace tracer::plugin_tests {
namespace {

using collectors::CheckStatus;

using fixtures::as_postgres;
using fixtures::PostgresPrimary;
using fixtures::postgres_argv;
using fixtures::postgres_program;
using fixtures::postgres_uid;
using Session = fixtures::PostgresSession;
constexpr int kMaxConnections = fixtures::kPostgresMaxConnections;

std::string instance(uint16_t port, const std::string& more = "") {
    return "host: 127.0.0.1\nport: " + std::to_string(port) + "\nusername: tracer\npassword: s3cret\n" + more;
}

class PostgresPlugin : public ::testing::Test {
protected:
    static void SetUpTestSuite() { db_ = std::make_unique<PostgresPrimary>(); }
    static void TearDownTestSuite() { db_.reset(); }
    void SetUp() override {
        if (!db_->skip_reason.empty()) GTEST_SKIP() << db_->skip_reason;
        ASSERT_EQ(db_->start_error, "");
    }
    static std::unique_ptr<PostgresPrimary> db_;
};
std::unique_ptr<PostgresPrimary> PostgresPlugin::db_;

const metrics::Labels kShop{{"db", "shop"}};

TEST_F(PostgresPlugin, ACreatedDatabaseAppearsWithItsSizeAndConnections) {
    Session a = db_->session("shop"), b = db_->session("shop"), c = db_->session("shop");
    auto check = make_check("postgres", instance(db_->server.port()));
    auto run = run_once(*check);
    ASSERT_EQ(run.error, "") << run.dump();
    ASSERT_NE(run.check("postgres.can_connect"), nullptr);
    EXPECT_EQ(run.check("postgres.can_connect")->status, CheckStatus::Ok);

    double size = std::stod(db_->session().exec("SELECT pg_database_size('shop')"));
    EXPECT_GT(size, 0);
    EXPECT_EQ(run.value("postgresql.database_size", kShop), size) << run.dump();
    EXPECT_EQ(run.point("postgresql.database_size", kShop)->unit, "bytes");
    EXPECT_EQ(run.value("postgresql.connections", kShop), 3);
    EXPECT_EQ(run.value("postgresql.max_connections"), kMaxConnections);
    EXPECT_GT(run.value("postgresql.percent_usage_connections").value_or(0), 0);
    EXPECT_EQ(run.point("postgresql.commits", kShop)->kind, collectors::MetricKind::Rate);
    EXPECT_TRUE(run.value("postgresql.database_size", {{"db", "postgres"}}));
    EXPECT_FALSE(run.value("postgresql.database_size", {{"db", "template1"}})) << "ignored by default";
    EXPECT_GE(run.value("postgresql.uptime").value_or(-1), 0);
    EXPECT_FALSE(run.value("postgresql.replication_delay")) << "a primary";

    // The password from a file this time.
    std::string password_file = db_->server.write_file("tracer.password", "s3cret\n");
    auto without_size = run_once(*make_check(
        "postgres", "host: 127.0.0.1\nport: " + std::to_string(db_->server.port()) +
                        "\nusername: tracer\npassword_file: " + password_file +
                        "\ncollect_database_size_metrics: false\nignore_databases: [post%]\n"));
    ASSERT_EQ(without_size.error, "") << without_size.dump();
    EXPECT_FALSE(without_size.value("postgresql.database_size", kShop));
    EXPECT_EQ(without_size.value("postgresql.connections", kShop), 3);
    EXPECT_TRUE(without_size.value("postgresql.connections", {{"db", "template1"}}));
    EXPECT_FALSE(without_size.value("postgresql.connections", {{"db", "postgres"}}));
}

// pg_database_size() walks every file of each database: turned off, the
// server must not be asked for it at all (not asked and the answer dropped).
TEST_F(PostgresPlugin, WithoutDatabaseSizesTheServerIsNotAskedForThem) {
    // A role whose statements the server logs (to its output, which the fixture keeps).
    db_->session().exec("CREATE ROLE logged LOGIN PASSWORD 's3cret' IN ROLE pg_monitor");
    db_->session().exec("ALTER ROLE logged SET log_statement = 'all'");
    auto sizes_in_log = [&] {
        std::string log = db_->server.output();
        size_t n = 0;
        for (size_t at = log.find("pg_database_size("); at != std::string::npos; at = log.find("pg_database_size(", at + 1)) ++n;
        return n;
    };
    std::string logged = "host: 127.0.0.1\nport: " + std::to_string(db_->server.port()) + "\nusername: logged\npassword: s3cret\n";
    auto with_size = run_once(*make_check("postgres", logged));
    ASSERT_EQ(with_size.error, "") << with_size.dump();
    EXPECT_TRUE(with_size.value("postgresql.database_size", {{"db", "postgres"}}));
    size_t asked = sizes_in_log();
    ASSERT_GT(asked, 0u) << "the server logged no statement of the role: " << db_->server.output();

    auto without = run_once(*make_check("postgres", logged + "collect_database_size_metrics: false\n"));
    ASSERT_EQ(without.error, "") << without.dump();
    EXPECT_FALSE(without.value("postgresql.database_size", {{"db", "postgres"}}));
    EXPECT_TRUE(without.value("postgresql.connections", {{"db", "shop"}})) << without.dump();
    EXPECT_EQ(sizes_in_log(), asked) << "asked for database sizes with collect_database_size_metrics: false";
}

// The check keeps its connection; when the server ends it between two runs
// (a restart, an idle timeout, an administrator), the next run connects again
// within the run instead of failing.
TEST_F(PostgresPlugin, AConnectionEndedBetweenRunsCostsNoFailedRun) {
    auto check = make_check("postgres", instance(db_->server.port(), "dbname: shop\n"));
    auto first = run_once(*check);
    ASSERT_EQ(first.error, "") << first.dump();
    auto backend = [&] {
        return db_->session().exec("SELECT pid FROM pg_stat_activity WHERE application_name = 'tracer'");
    };
    std::string pid = backend();
    ASSERT_NE(pid, "");
    EXPECT_EQ(run_once(*check).error, "");
    EXPECT_EQ(backend(), pid) << "the check connected again";

    EXPECT_EQ(db_->session().exec("SELECT pg_terminate_backend(" + pid + ")"), "t");
    auto after = run_once(*check);
    EXPECT_EQ(after.error, "") << after.dump();
    ASSERT_NE(after.check("postgres.can_connect"), nullptr);
    EXPECT_EQ(after.check("postgres.can_connect")->status, CheckStatus::Ok);
    EXPECT_TRUE(after.value("postgresql.connections", kShop)) << after.dump();
    EXPECT_NE(backend(), pid);
}

TEST_F(PostgresPlugin, ATableLockedInATransactionIsCounted) {
    Session owner = db_->session("shop");
    owner.exec("CREATE TABLE orders (id int)");
    owner.exec("BEGIN");
    owner.exec("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
    // Relation names resolve in the database the check connects to.
    auto check = make_check("postgres", instance(db_->server.port(), "dbname: shop\n"));
    auto run = run_once(*check);
    ASSERT_EQ(run.error, "") << run.dump();
    const metrics::Labels lock{{"db", "shop"}, {"schema", "public"}, {"table", "orders"},
                               {"lock_mode", "AccessExclusiveLock"}, {"lock_type", "relation"}};
    EXPECT_EQ(run.value("postgresql.locks", lock), 1) << run.dump();
    owner.exec("COMMIT");
    run = run_once(*check);
    EXPECT_FALSE(run.value("postgresql.locks", lock));
}

TEST_F(PostgresPlugin, ARequestedCheckpointIsCountedOnce) {
    auto check = make_check("postgres", instance(db_->server.port()));
    auto first = run_once(*check);
    ASSERT_EQ(first.error, "") << first.dump();
    auto before = first.value("postgresql.bgwriter.checkpoints_requested");
    ASSERT_TRUE(before) << first.dump();
    EXPECT_EQ(first.point("postgresql.bgwriter.checkpoints_requested")->kind, collectors::MetricKind::MonotonicCount);
    db_->session().exec("CHECKPOINT");
    // The checkpointer publishes its counters just after it wakes the waiter.
    double delta = 0;
    for (int i = 0; i < 100 && delta < 1; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        delta = run_once(*check).value("postgresql.bgwriter.checkpoints_requested").value_or(-1) - *before;
    }
    EXPECT_EQ(delta, 1);
}

TEST_F(PostgresPlugin, AStandbyReportsItsDelayAndThePrimaryItsStandby) {
    fixtures::ServerProcess standby(postgres_argv(), as_postgres());
    fixtures::Subprocess basebackup({postgres_program("pg_basebackup"), "-D", standby.dir() + "/data", "-h",
                                     db_->server.dir(), "-p", std::to_string(db_->server.port()), "-U", "postgres",
                                     "-R", "--no-sync", "--checkpoint=fast"},
                                    postgres_uid());
    ASSERT_EQ(basebackup.wait_for(std::chrono::seconds(120)), 0) << basebackup.output();
    ASSERT_TRUE(standby.start()) << standby.output();

    auto on_standby = make_check("postgres", instance(standby.port()));
    RecordingCheckRun run(std::chrono::steady_clock::now());
    for (int i = 0; i < 200; ++i) {
        run = run_once(*on_standby);
        if (run.value("postgresql.wal_receiver.connected") == 1 && run.value("postgresql.replication_delay_bytes") == 0)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(run.error, "") << run.dump();
    EXPECT_EQ(run.value("postgresql.wal_receiver.connected"), 1) << run.dump();
    EXPECT_EQ(run.value("postgresql.replication_delay_bytes"), 0);
    EXPECT_EQ(run.value("postgresql.replication_delay"), 0) << "everything received is replayed";
    EXPECT_TRUE(run.value("postgresql.database_size", kShop)) << "the standby has the primary's databases";

    // The primary sees one streaming standby; its lag columns fill in once the
    // standby has acknowledged some WAL.
    auto on_primary = make_check("postgres", instance(db_->server.port()));
    std::vector<collectors::ReportedMetric> lags;
    for (int i = 0; i < 200 && lags.empty(); ++i) {
        db_->session("shop").exec("CREATE TABLE IF NOT EXISTS ticks (n int); INSERT INTO ticks VALUES (1)");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        lags = run_once(*on_primary).points("postgresql.replication.wal_write_lag");
    }
    ASSERT_EQ(lags.size(), 1u);
    metrics::Labels labels = lags[0].labels;
    std::sort(labels.begin(), labels.end());
    EXPECT_EQ(labels, (metrics::Labels{{"wal_app_name", "walreceiver"},
                                       {"wal_client_addr", ""},
                                       {"wal_state", "streaming"},
                                       {"wal_sync_state", "async"}}));
    EXPECT_GE(lags[0].value, 0);
    EXPECT_EQ(lags[0].unit, "seconds");
}

TEST_F(PostgresPlugin, AWrongPasswordOrNoServerIsCriticalWithTheReason) {
    auto check = make_check("postgres", "host: 127.0.0.1\nport: " + std::to_string(db_->server.port()) +
                                            "\nusername: tracer\npassword: not-the-secret\n");
    auto run = run_once(*check);
    ASSERT_NE(run.check("postgres.can_connect"), nullptr);
    EXPECT_EQ(run.check("postgres.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("postgres.can_connect")->message.find("password authentication failed for user \"tracer\""),
              std::string::npos)
        << run.check("postgres.can_connect")->message;
    EXPECT_EQ(run.check("postgres.can_connect")->message.find("not-the-secret"), std::string::npos);
    EXPECT_TRUE(run.metrics.empty());

    run = run_once(*make_check("postgres", instance(fixtures::free_tcp_port())));
    ASSERT_NE(run.check("postgres.can_connect"), nullptr);
    EXPECT_EQ(run.check("postgres.can_connect")->status, CheckStatus::Critical);
    EXPECT_NE(run.check("postgres.can_connect")->message.find("Connection refused"), std::string::npos)
        << run.check("postgres.can_connect")->message;
}

// The agent's own path: conf.d text -> loader (every key known) -> runner.
TEST_F(PostgresPlugin, RunsUnderTheAgentsRunner) {
    fixtures::PluginUnderTest plugin("postgres", "init_config:\ninstances:\n  - host: 127.0.0.1\n    port: " +
                                                     std::to_string(db_->server.port()) +
                                                     "\n    username: tracer\n    password: s3cret\n    dbname: shop\n");
    auto report = plugin.run();
    EXPECT_EQ(report.last_error, "");
    EXPECT_EQ(fixtures::service_check_of(report, "postgres.can_connect"), CheckStatus::Ok);
    EXPECT_GE(fixtures::metric_of(report, "postgresql.max_connections"), 0);
}

TEST(PostgresPluginConfig, ErrorsNameTheFileAndLine) {
    try {
        make_check("postgres", "username: x\nssl: maybe\n", "/etc/tracer/conf.d/postgres.yaml");
        FAIL();
    } catch (const config::ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "/etc/tracer/conf.d/postgres.yaml:2: postgres instance 0: 'ssl' must be one of disable, allow, "
                  "prefer, require, verify-ca, verify-full");
    }
    EXPECT_THROW(make_check("postgres", "host: 127.0.0.1\n"), config::ConfigError);
    EXPECT_THROW(make_check("postgres", "username: x\nignore_databases: {a: b}\n"), config::ConfigError);
}

}  // namespace
}  // namespace tracer::plugin_tests
