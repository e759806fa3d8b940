#include "collectors/postgres/postgres.h"

#include "collectors/instance_keys.h"
#include "collectors/kept_connection.h"
#include "collectors/metric_table.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace tracer::collectors {
namespace {

using Column = MetricColumn;

constexpr Column kDatabaseColumns[] = {
    {"numbackends", "postgresql.connections", kGauge},
    {"xact_commit", "postgresql.commits", kRate},
    {"xact_rollback", "postgresql.rollbacks", kRate},
    {"blks_read", "postgresql.disk_read", kRate},
    {"blks_hit", "postgresql.buffer_hit", kRate},
    {"tup_returned", "postgresql.rows_returned", kRate},
    {"tup_fetched", "postgresql.rows_fetched", kRate},
    {"tup_inserted", "postgresql.rows_inserted", kRate},
    {"tup_updated", "postgresql.rows_updated", kRate},
    {"tup_deleted", "postgresql.rows_deleted", kRate},
    {"wraparound", "postgresql.before_xid_wraparound", kGauge},
    {"deadlocks", "postgresql.deadlocks", kRate},
    {"temp_bytes", "postgresql.temp_bytes", kRate, "bytes"},
    {"temp_files", "postgresql.temp_files", kRate},
    {"blk_read_time", "postgresql.blk_read_time", kCount, "milliseconds"},
    {"blk_write_time", "postgresql.blk_write_time", kCount, "milliseconds"},
    {"size", "postgresql.database_size", kGauge, "bytes"},
};

#define TRACER_PG_DATABASE_COLUMNS                                                                               \
    "SELECT psd.datname, numbackends, xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched, " \
    "tup_inserted, tup_updated, tup_deleted, 2^31 - age(pd.datfrozenxid) AS wraparound, deadlocks, temp_bytes, "    \
    "temp_files, blk_read_time, blk_write_time, "
#define TRACER_PG_DATABASE_FROM "FROM pg_stat_database psd JOIN pg_database pd ON psd.datname = pd.datname"
constexpr const char* kDatabaseQuery =
    TRACER_PG_DATABASE_COLUMNS
    "CASE WHEN has_database_privilege(psd.datname, 'CONNECT') THEN pg_database_size(psd.datname) END AS size "
    TRACER_PG_DATABASE_FROM;
// Without the sizes: pg_database_size() walks every file of each database,
// most of what a run costs the server (bench_plugin_cost), more with many
// relations. collect_database_size_metrics: false must save that.
constexpr const char* kDatabaseQueryWithoutSize = TRACER_PG_DATABASE_COLUMNS "NULL AS size " TRACER_PG_DATABASE_FROM;
#undef TRACER_PG_DATABASE_COLUMNS
#undef TRACER_PG_DATABASE_FROM

constexpr Column kBgwriterColumns[] = {
    {"checkpoints_timed", "postgresql.bgwriter.checkpoints_timed", kCount},
    {"checkpoints_req", "postgresql.bgwriter.checkpoints_requested", kCount},
    {"buffers_checkpoint", "postgresql.bgwriter.buffers_checkpoint", kCount},
    {"buffers_clean", "postgresql.bgwriter.buffers_clean", kCount},
    {"maxwritten_clean", "postgresql.bgwriter.maxwritten_clean", kCount},
    {"buffers_backend", "postgresql.bgwriter.buffers_backend", kCount},
    {"buffers_backend_fsync", "postgresql.bgwriter.buffers_backend_fsync", kCount},
    {"buffers_alloc", "postgresql.bgwriter.buffers_alloc", kCount},
    {"checkpoint_write_time", "postgresql.bgwriter.write_time", kCount, "milliseconds"},
    {"checkpoint_sync_time", "postgresql.bgwriter.sync_time", kCount, "milliseconds"},
};

// Before PostgreSQL 17 everything is in pg_stat_bgwriter; from 17 the
// checkpointer's half moved to pg_stat_checkpointer (and buffers_backend* to pg_stat_io).
constexpr const char* kBgwriterQuery =
    "SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_clean, maxwritten_clean, "
    "buffers_backend, buffers_backend_fsync, buffers_alloc, checkpoint_write_time, checkpoint_sync_time "
    "FROM pg_stat_bgwriter";
constexpr const char* kBgwriterQuery17 =
    "SELECT cp.num_timed AS checkpoints_timed, cp.num_requested AS checkpoints_req, "
    "cp.buffers_written AS buffers_checkpoint, bg.buffers_clean, bg.maxwritten_clean, bg.buffers_alloc, "
    "cp.write_time AS checkpoint_write_time, cp.sync_time AS checkpoint_sync_time "
    "FROM pg_stat_bgwriter bg, pg_stat_checkpointer cp";

constexpr const char* kLocksQuery =
    "SELECT mode, locktype, pn.nspname, pd.datname, pc.relname, count(*) AS count FROM pg_locks l "
    "JOIN pg_database pd ON l.database = pd.oid JOIN pg_class pc ON l.relation = pc.oid "
    "LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace "
    "WHERE l.mode IS NOT NULL AND pc.relname NOT LIKE 'pg_%' "
    "GROUP BY pd.datname, pc.relname, pn.nspname, locktype, mode";

constexpr const char* kInstanceQuery =
    "SELECT current_setting('max_connections')::float AS max_connections, "
    "EXTRACT(EPOCH FROM now() - pg_postmaster_start_time()) AS uptime, pg_is_in_recovery() AS in_recovery";

// On a standby: how far replay is behind (Datadog's definition: 0 when
// everything received is replayed).
constexpr const char* kStandbyQuery =
    "SELECT CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
    "THEN 0 ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())) END AS delay, "
    "abs(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())) AS delay_bytes, "
    "(SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming') AS connected";

// On a primary: every standby streaming from it.
constexpr const char* kReplicationQuery =
    "SELECT application_name, state, sync_state, client_addr, "
    "GREATEST(0, age(backend_xmin)) AS backend_xmin_age, "
    "GREATEST(0, EXTRACT(EPOCH FROM write_lag)) AS write_lag, "
    "GREATEST(0, EXTRACT(EPOCH FROM flush_lag)) AS flush_lag, "
    "GREATEST(0, EXTRACT(EPOCH FROM replay_lag)) AS replay_lag FROM pg_stat_replication";

struct PostgresOptions {
    std::string host = "localhost";
    std::string port = "5432";
    std::string user, password;
    std::string dbname = "postgres";
    std::string sslmode = "prefer";
    std::vector<std::string> ignore_databases = {"template%", "rdsadmin", "azure_maintenance"};
    bool collect_database_size = true;
    int timeout_ms = 5000;
};

struct PgFinish {
    void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgClear {
    void operator()(PGresult* r) const { PQclear(r); }
};
using Connection = std::unique_ptr<PGconn, PgFinish>;
using Result = std::unique_ptr<PGresult, PgClear>;

// SQL LIKE with '%' (any run) and '_' (one character).
bool like(const char* s, const char* p) {
    if (!*p) return !*s;
    if (*p == '%') return like(s, p + 1) || (*s && like(s + 1, p));
    return *s && (*p == '_' || *p == *s) && like(s + 1, p + 1);
}

std::optional<double> number(const PGresult* r, int row, int col) {
    if (col < 0 || PQgetisnull(r, row, col)) return std::nullopt;
    const char* text = PQgetvalue(r, row, col);
    double v = 0;
    auto end = text + std::char_traits<char>::length(text);
    auto parsed = std::from_chars(text, end, v);
    if (parsed.ec != std::errc() || parsed.ptr != end) return std::nullopt;
    return v;
}

std::string text(const PGresult* r, int row, int col) {
    return col < 0 || PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

template <size_t N>
void report_row(CheckRun& out, const Column (&columns)[N], const PGresult* r, int row, const metrics::Labels& labels) {
    for (const auto& c : columns)
        if (auto v = number(r, row, PQfnumber(r, c.source))) report_metric(out, c, *v, labels);
}

class PostgresCheck : public Check {
public:
    explicit PostgresCheck(PostgresOptions options) : options_(std::move(options)) {}

    // One connection is kept between runs (collectors/kept_connection.h).
    void run(CheckRun& out) override {
        try {
            if (conn_ && PQstatus(conn_.get()) != CONNECTION_OK) conn_.reset();
            auto instance = first_round_trip(conn_, [&] { return connect(out.deadline()); },
                                             [&] { return query(kInstanceQuery); });
            collect(out, instance.get());
        } catch (const std::exception& e) {
            conn_.reset();  // the next run connects again
            out.service_check("postgres.can_connect", CheckStatus::Critical, e.what());
            throw;
        }
        out.service_check("postgres.can_connect", CheckStatus::Ok);
    }

private:
    std::string where() const { return "postgres " + options_.host + ":" + options_.port + "/" + options_.dbname; }

    Connection connect(std::chrono::steady_clock::time_point deadline) const {
        auto left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
        // libpq's connect_timeout is whole seconds, at least 2
        std::string connect_timeout = std::to_string(static_cast<int>(std::max(2.0, std::ceil(left))));
        std::string options = "-c statement_timeout=" + std::to_string(options_.timeout_ms);
        const char* keys[] = {"host", "port", "user", "password", "dbname", "sslmode", "connect_timeout",
                              "application_name", "options", nullptr};
        const char* values[] = {options_.host.c_str(), options_.port.c_str(), options_.user.c_str(),
                                options_.password.c_str(), options_.dbname.c_str(), options_.sslmode.c_str(),
                                connect_timeout.c_str(), "tracer", options.c_str(), nullptr};
        Connection c(PQconnectdbParams(keys, values, 0));
        if (!c) throw std::runtime_error(where() + ": out of memory");
        if (PQstatus(c.get()) != CONNECTION_OK) {
            std::string message = PQerrorMessage(c.get());
            while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
            for (auto& ch : message)
                if (ch == '\n') ch = ' ';
            throw std::runtime_error(where() + ": " + message);
        }
        return c;
    }

    Result query(const char* sql) {
        Result r(PQexec(conn_.get(), sql));
        if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
            std::string message = r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_.get());
            while (!message.empty() && message.back() == '\n') message.pop_back();
            throw std::runtime_error(where() + ": " + message);
        }
        return r;
    }

    bool ignored(const std::string& db) const {
        for (const auto& pattern : options_.ignore_databases)
            if (like(db.c_str(), pattern.c_str())) return true;
        return false;
    }

    // `instance`: the answer to kInstanceQuery, the run's first round trip.
    void collect(CheckRun& out, const PGresult* instance) {
        auto max_connections = number(instance, 0, 0);
        if (max_connections) out.gauge("postgresql.max_connections", *max_connections);
        if (auto uptime = number(instance, 0, 1)) out.gauge("postgresql.uptime", *uptime, {}, "seconds");
        bool in_recovery = text(instance, 0, 2) == "t";

        auto databases = query(options_.collect_database_size ? kDatabaseQuery : kDatabaseQueryWithoutSize);
        double backends = 0;
        int name = PQfnumber(databases.get(), "datname");
        int size = PQfnumber(databases.get(), "size");
        for (int row = 0; row < PQntuples(databases.get()); ++row) {
            backends += number(databases.get(), row, PQfnumber(databases.get(), "numbackends")).value_or(0);
            std::string db = text(databases.get(), row, name);
            if (db.empty() || ignored(db)) continue;
            metrics::Labels labels{{"db", db}};
            for (const auto& c : kDatabaseColumns) {
                if (std::string_view(c.source) == "size" && !options_.collect_database_size) continue;
                int col = std::string_view(c.source) == "size" ? size : PQfnumber(databases.get(), c.source);
                if (auto v = number(databases.get(), row, col)) report_metric(out, c, *v, labels);
            }
        }
        if (max_connections && *max_connections > 0)
            out.gauge("postgresql.percent_usage_connections", backends / *max_connections, {}, "fraction");

        auto bgwriter = query(PQserverVersion(conn_.get()) >= 170000 ? kBgwriterQuery17 : kBgwriterQuery);
        if (PQntuples(bgwriter.get()) > 0) report_row(out, kBgwriterColumns, bgwriter.get(), 0, {});

        auto locks = query(kLocksQuery);
        for (int row = 0; row < PQntuples(locks.get()); ++row) {
            metrics::Labels labels{{"lock_mode", text(locks.get(), row, 0)}, {"lock_type", text(locks.get(), row, 1)},
                                   {"schema", text(locks.get(), row, 2)},    {"db", text(locks.get(), row, 3)},
                                   {"table", text(locks.get(), row, 4)}};
            if (auto n = number(locks.get(), row, 5)) out.gauge("postgresql.locks", *n, labels);
        }

        if (in_recovery) {
            auto standby = query(kStandbyQuery);
            if (auto v = number(standby.get(), 0, 0)) out.gauge("postgresql.replication_delay", *v, {}, "seconds");
            if (auto v = number(standby.get(), 0, 1)) out.gauge("postgresql.replication_delay_bytes", *v, {}, "bytes");
            if (auto v = number(standby.get(), 0, 2)) out.gauge("postgresql.wal_receiver.connected", *v);
        }
        auto standbys = query(kReplicationQuery);
        for (int row = 0; row < PQntuples(standbys.get()); ++row) {
            metrics::Labels labels{{"wal_app_name", text(standbys.get(), row, 0)},
                                   {"wal_state", text(standbys.get(), row, 1)},
                                   {"wal_sync_state", text(standbys.get(), row, 2)},
                                   {"wal_client_addr", text(standbys.get(), row, 3)}};
            if (auto v = number(standbys.get(), row, 4)) out.gauge("postgresql.replication.backend_xmin_age", *v, labels);
            if (auto v = number(standbys.get(), row, 5))
                out.gauge("postgresql.replication.wal_write_lag", *v, labels, "seconds");
            if (auto v = number(standbys.get(), row, 6))
                out.gauge("postgresql.replication.wal_flush_lag", *v, labels, "seconds");
            if (auto v = number(standbys.get(), row, 7))
                out.gauge("postgresql.replication.wal_replay_lag", *v, labels, "seconds");
        }
    }

    PostgresOptions options_;
    Connection conn_;
};

std::unique_ptr<Check> make_postgres_check(const InstanceConfig& config) {
    PostgresOptions o;
    o.host = string_key(config, "host", "localhost");
    o.port = std::to_string(static_cast<int>(number_key(config, "port", 5432, 1, 65535)));
    o.user = string_key(config, "username", string_key(config, "user", ""));
    if (o.user.empty()) throw instance_error(config, "'username' is required");
    o.password = secret_key(config);
    o.dbname = string_key(config, "dbname", "postgres");
    o.sslmode = string_key(config, "ssl", "prefer");
    static const char* kModes[] = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    if (std::find(std::begin(kModes), std::end(kModes), o.sslmode) == std::end(kModes))
        throw instance_error(config, "'ssl' must be one of disable, allow, prefer, require, verify-ca, verify-full",
                             instance_value(config, "ssl"));
    if (instance_value(config, "ignore_databases").IsDefined())
        o.ignore_databases = string_list_key(config, "ignore_databases");
    o.collect_database_size = bool_key(config, "collect_database_size_metrics", true);
    o.timeout_ms = static_cast<int>(std::max(1.0, config.timeout_seconds * 1000));
    return std::make_unique<PostgresCheck>(std::move(o));
}

}  // namespace

PluginInfo postgres_plugin() {
    return {"postgres", "PostgreSQL databases, connections, locks, background writer and replication (libpq)",
            make_postgres_check,
            {"host", "port", "username", "user", "password", "password_env", "password_file", "dbname", "ssl",
             "ignore_databases", "collect_database_size_metrics"}};
}

}  // namespace tracer::collectors
