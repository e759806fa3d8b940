#include "collectors/mysql/mysql.h"

#include "collectors/instance_keys.h"

#include <mysql.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

namespace tracer::collectors {
namespace {

enum class Kind { Gauge, Rate, Count };

struct Var {
    const char* name;
    const char* metric;
    Kind kind;
    const char* unit = "";
};

// SHOW GLOBAL STATUS
constexpr Var kStatus[] = {
    {"Prepared_stmt_count", "mysql.performance.prepared_stmt_count", Kind::Gauge},
    {"Slow_queries", "mysql.performance.slow_queries", Kind::Rate},
    {"Questions", "mysql.performance.questions", Kind::Rate},
    {"Queries", "mysql.performance.queries", Kind::Rate},
    {"Com_select", "mysql.performance.com_select", Kind::Rate},
    {"Com_insert", "mysql.performance.com_insert", Kind::Rate},
    {"Com_update", "mysql.performance.com_update", Kind::Rate},
    {"Com_delete", "mysql.performance.com_delete", Kind::Rate},
    {"Com_replace", "mysql.performance.com_replace", Kind::Rate},
    {"Com_load", "mysql.performance.com_load", Kind::Rate},
    {"Com_insert_select", "mysql.performance.com_insert_select", Kind::Rate},
    {"Com_update_multi", "mysql.performance.com_update_multi", Kind::Rate},
    {"Com_delete_multi", "mysql.performance.com_delete_multi", Kind::Rate},
    {"Com_replace_select", "mysql.performance.com_replace_select", Kind::Rate},
    {"Connections", "mysql.net.connections", Kind::Rate},
    {"Max_used_connections", "mysql.net.max_connections", Kind::Gauge},
    {"Aborted_clients", "mysql.net.aborted_clients", Kind::Rate},
    {"Aborted_connects", "mysql.net.aborted_connects", Kind::Rate},
    {"Open_files", "mysql.performance.open_files", Kind::Gauge},
    {"Open_tables", "mysql.performance.open_tables", Kind::Gauge},
    {"Bytes_sent", "mysql.performance.bytes_sent", Kind::Rate, "bytes"},
    {"Bytes_received", "mysql.performance.bytes_received", Kind::Rate, "bytes"},
    {"Qcache_hits", "mysql.performance.qcache_hits", Kind::Rate},
    {"Qcache_inserts", "mysql.performance.qcache_inserts", Kind::Rate},
    {"Qcache_lowmem_prunes", "mysql.performance.qcache_lowmem_prunes", Kind::Rate},
    {"Table_locks_waited", "mysql.performance.table_locks_waited", Kind::Gauge},
    {"Table_locks_waited", "mysql.performance.table_locks_waited.rate", Kind::Rate},
    {"Created_tmp_tables", "mysql.performance.created_tmp_tables", Kind::Rate},
    {"Created_tmp_disk_tables", "mysql.performance.created_tmp_disk_tables", Kind::Rate},
    {"Created_tmp_files", "mysql.performance.created_tmp_files", Kind::Rate},
    {"Threads_connected", "mysql.performance.threads_connected", Kind::Gauge},
    {"Threads_running", "mysql.performance.threads_running", Kind::Gauge},
    {"Key_read_requests", "mysql.myisam.key_read_requests", Kind::Rate},
    {"Key_reads", "mysql.myisam.key_reads", Kind::Rate},
    {"Key_write_requests", "mysql.myisam.key_write_requests", Kind::Rate},
    {"Key_writes", "mysql.myisam.key_writes", Kind::Rate},
    // InnoDB
    {"Innodb_data_reads", "mysql.innodb.data_reads", Kind::Rate},
    {"Innodb_data_writes", "mysql.innodb.data_writes", Kind::Rate},
    {"Innodb_os_log_fsyncs", "mysql.innodb.os_log_fsyncs", Kind::Rate},
    {"Innodb_row_lock_waits", "mysql.innodb.row_lock_waits", Kind::Rate},
    {"Innodb_row_lock_time", "mysql.innodb.row_lock_time", Kind::Rate, "milliseconds"},
    {"Innodb_row_lock_current_waits", "mysql.innodb.row_lock_current_waits", Kind::Gauge},
    {"Innodb_buffer_pool_bytes_dirty", "mysql.innodb.buffer_pool_dirty", Kind::Gauge, "bytes"},
    {"Innodb_buffer_pool_read_requests", "mysql.innodb.buffer_pool_read_requests", Kind::Rate},
    {"Innodb_buffer_pool_reads", "mysql.innodb.buffer_pool_reads", Kind::Rate},
};

// SHOW GLOBAL STATUS, with `extra_status_metrics: true`
constexpr Var kExtraStatus[] = {
    {"Binlog_cache_disk_use", "mysql.binlog.cache_disk_use", Kind::Gauge},
    {"Binlog_cache_use", "mysql.binlog.cache_use", Kind::Gauge},
    {"Handler_commit", "mysql.performance.handler_commit", Kind::Rate},
    {"Handler_delete", "mysql.performance.handler_delete", Kind::Rate},
    {"Handler_prepare", "mysql.performance.handler_prepare", Kind::Rate},
    {"Handler_read_first", "mysql.performance.handler_read_first", Kind::Rate},
    {"Handler_read_key", "mysql.performance.handler_read_key", Kind::Rate},
    {"Handler_read_next", "mysql.performance.handler_read_next", Kind::Rate},
    {"Handler_read_prev", "mysql.performance.handler_read_prev", Kind::Rate},
    {"Handler_read_rnd", "mysql.performance.handler_read_rnd", Kind::Rate},
    {"Handler_read_rnd_next", "mysql.performance.handler_read_rnd_next", Kind::Rate},
    {"Handler_rollback", "mysql.performance.handler_rollback", Kind::Rate},
    {"Handler_update", "mysql.performance.handler_update", Kind::Rate},
    {"Handler_write", "mysql.performance.handler_write", Kind::Rate},
    {"Opened_tables", "mysql.performance.opened_tables", Kind::Rate},
    {"Qcache_total_blocks", "mysql.performance.qcache_total_blocks", Kind::Gauge},
    {"Qcache_free_blocks", "mysql.performance.qcache_free_blocks", Kind::Gauge},
    {"Qcache_free_memory", "mysql.performance.qcache_free_memory", Kind::Gauge, "bytes"},
    {"Qcache_not_cached", "mysql.performance.qcache_not_cached", Kind::Rate},
    {"Qcache_queries_in_cache", "mysql.performance.qcache_queries_in_cache", Kind::Gauge},
    {"Select_full_join", "mysql.performance.select_full_join", Kind::Rate},
    {"Select_full_range_join", "mysql.performance.select_full_range_join", Kind::Rate},
    {"Select_range", "mysql.performance.select_range", Kind::Rate},
    {"Select_range_check", "mysql.performance.select_range_check", Kind::Rate},
    {"Select_scan", "mysql.performance.select_scan", Kind::Rate},
    {"Sort_merge_passes", "mysql.performance.sort_merge_passes", Kind::Rate},
    {"Sort_range", "mysql.performance.sort_range", Kind::Rate},
    {"Sort_rows", "mysql.performance.sort_rows", Kind::Rate},
    {"Sort_scan", "mysql.performance.sort_scan", Kind::Rate},
    {"Table_locks_immediate", "mysql.performance.table_locks_immediate", Kind::Gauge},
    {"Table_locks_immediate", "mysql.performance.table_locks_immediate.rate", Kind::Rate},
    {"Threads_cached", "mysql.performance.threads_cached", Kind::Gauge},
    {"Threads_created", "mysql.performance.threads_created", Kind::Count},
    {"Table_open_cache_hits", "mysql.performance.table_cache_hits", Kind::Rate},
    {"Table_open_cache_misses", "mysql.performance.table_cache_misses", Kind::Rate},
};

// SHOW GLOBAL STATUS, with `extra_innodb_metrics: true`
constexpr Var kExtraInnodb[] = {
    {"Innodb_buffer_pool_bytes_data", "mysql.innodb.buffer_pool_data", Kind::Gauge, "bytes"},
    {"Innodb_buffer_pool_pages_data", "mysql.innodb.buffer_pool_pages_data", Kind::Gauge},
    {"Innodb_buffer_pool_pages_dirty", "mysql.innodb.buffer_pool_pages_dirty", Kind::Gauge},
    {"Innodb_buffer_pool_pages_flushed", "mysql.innodb.buffer_pool_pages_flushed", Kind::Rate},
    {"Innodb_buffer_pool_pages_free", "mysql.innodb.buffer_pool_pages_free", Kind::Gauge},
    {"Innodb_buffer_pool_pages_total", "mysql.innodb.buffer_pool_pages_total", Kind::Gauge},
    {"Innodb_buffer_pool_read_ahead", "mysql.innodb.buffer_pool_read_ahead", Kind::Rate},
    {"Innodb_buffer_pool_read_ahead_evicted", "mysql.innodb.buffer_pool_read_ahead_evicted", Kind::Rate},
    {"Innodb_buffer_pool_read_ahead_rnd", "mysql.innodb.buffer_pool_read_ahead_rnd", Kind::Gauge},
    {"Innodb_buffer_pool_wait_free", "mysql.innodb.buffer_pool_wait_free", Kind::Count},
    {"Innodb_buffer_pool_write_requests", "mysql.innodb.buffer_pool_write_requests", Kind::Rate},
    {"Innodb_checkpoint_age", "mysql.innodb.checkpoint_age", Kind::Gauge},
    {"Innodb_data_fsyncs", "mysql.innodb.data_fsyncs", Kind::Rate},
    {"Innodb_data_pending_fsyncs", "mysql.innodb.data_pending_fsyncs", Kind::Gauge},
    {"Innodb_data_pending_reads", "mysql.innodb.data_pending_reads", Kind::Gauge},
    {"Innodb_data_pending_writes", "mysql.innodb.data_pending_writes", Kind::Gauge},
    {"Innodb_data_read", "mysql.innodb.data_read", Kind::Rate, "bytes"},
    {"Innodb_data_written", "mysql.innodb.data_written", Kind::Rate, "bytes"},
    {"Innodb_dblwr_pages_written", "mysql.innodb.dblwr_pages_written", Kind::Rate},
    {"Innodb_dblwr_writes", "mysql.innodb.dblwr_writes", Kind::Rate},
    {"Innodb_history_list_length", "mysql.innodb.history_list_length", Kind::Gauge},
    {"Innodb_ibuf_free_list", "mysql.innodb.ibuf_free_list", Kind::Gauge},
    {"Innodb_ibuf_merged_delete_marks", "mysql.innodb.ibuf_merged_delete_marks", Kind::Rate},
    {"Innodb_ibuf_merged_deletes", "mysql.innodb.ibuf_merged_deletes", Kind::Rate},
    {"Innodb_ibuf_merged_inserts", "mysql.innodb.ibuf_merged_inserts", Kind::Rate},
    {"Innodb_ibuf_merges", "mysql.innodb.ibuf_merges", Kind::Rate},
    {"Innodb_ibuf_segment_size", "mysql.innodb.ibuf_segment_size", Kind::Gauge},
    {"Innodb_ibuf_size", "mysql.innodb.ibuf_size", Kind::Gauge},
    {"Innodb_log_waits", "mysql.innodb.log_waits", Kind::Rate},
    {"Innodb_log_write_requests", "mysql.innodb.log_write_requests", Kind::Rate},
    {"Innodb_log_writes", "mysql.innodb.log_writes", Kind::Rate},
    {"Innodb_lsn_current", "mysql.innodb.lsn_current", Kind::Rate},
    {"Innodb_lsn_flushed", "mysql.innodb.lsn_flushed", Kind::Rate},
    {"Innodb_lsn_last_checkpoint", "mysql.innodb.lsn_last_checkpoint", Kind::Rate},
    {"Innodb_mem_adaptive_hash", "mysql.innodb.mem_adaptive_hash", Kind::Gauge, "bytes"},
    {"Innodb_mem_dictionary", "mysql.innodb.mem_dictionary", Kind::Gauge, "bytes"},
    {"Innodb_mem_total", "mysql.innodb.mem_total", Kind::Gauge, "bytes"},
    {"Innodb_os_log_pending_fsyncs", "mysql.innodb.os_log_pending_fsyncs", Kind::Gauge},
    {"Innodb_os_log_pending_writes", "mysql.innodb.os_log_pending_writes", Kind::Gauge},
    {"Innodb_os_log_written", "mysql.innodb.os_log_written", Kind::Rate, "bytes"},
    {"Innodb_pages_created", "mysql.innodb.pages_created", Kind::Rate},
    {"Innodb_pages_read", "mysql.innodb.pages_read", Kind::Rate},
    {"Innodb_pages_written", "mysql.innodb.pages_written", Kind::Rate},
    {"Innodb_rows_deleted", "mysql.innodb.rows_deleted", Kind::Rate},
    {"Innodb_rows_inserted", "mysql.innodb.rows_inserted", Kind::Rate},
    {"Innodb_rows_read", "mysql.innodb.rows_read", Kind::Rate},
    {"Innodb_rows_updated", "mysql.innodb.rows_updated", Kind::Rate},
};

// SHOW GLOBAL VARIABLES
constexpr Var kVariables[] = {
    {"key_buffer_size", "mysql.myisam.key_buffer_size", Kind::Gauge, "bytes"},
    {"max_connections", "mysql.net.max_connections_available", Kind::Gauge},
    {"max_prepared_stmt_count", "mysql.performance.max_prepared_stmt_count", Kind::Gauge},
    {"query_cache_size", "mysql.performance.qcache_size", Kind::Gauge, "bytes"},
    {"table_open_cache", "mysql.performance.table_open_cache", Kind::Gauge},
    {"thread_cache_size", "mysql.performance.thread_cache_size", Kind::Gauge},
};

struct MysqlOptions {
    std::string host = "localhost";
    unsigned port = 3306;
    std::string socket;
    std::string user;
    std::string password;
    bool replication = false;
    bool extra_status = false;
    bool extra_innodb = false;
};

struct MysqlClose {
    void operator()(MYSQL* m) const { mysql_close(m); }
};
struct ResultFree {
    void operator()(MYSQL_RES* r) const { mysql_free_result(r); }
};
using Connection = std::unique_ptr<MYSQL, MysqlClose>;
using Result = std::unique_ptr<MYSQL_RES, ResultFree>;

std::optional<double> number(const std::map<std::string, std::string>& vars, const std::string& key) {
    auto it = vars.find(key);
    if (it == vars.end()) return std::nullopt;
    double v = 0;
    const std::string& s = it->second;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
        if (s == "ON" || s == "Yes") return 1.0;
        if (s == "OFF" || s == "No") return 0.0;
        return std::nullopt;
    }
    return v;
}

void report(CheckRun& out, const Var& v, double value) {
    switch (v.kind) {
        case Kind::Gauge: out.gauge(v.metric, value, {}, v.unit); break;
        case Kind::Rate: out.rate(v.metric, value, {}, v.unit); break;
        case Kind::Count: out.monotonic_count(v.metric, value, {}, v.unit); break;
    }
}

template <size_t N>
void report_all(CheckRun& out, const Var (&table)[N], const std::map<std::string, std::string>& vars) {
    for (const auto& v : table)
        if (auto value = number(vars, v.name)) report(out, v, *value);
}

class MysqlCheck : public Check {
public:
    explicit MysqlCheck(MysqlOptions options) : options_(std::move(options)) {}

    void run(CheckRun& out) override {
        try {
            if (!conn_) conn_ = connect(out.deadline());
            else set_timeouts(conn_.get(), out.deadline());
            collect(out);
        } catch (const std::exception& e) {
            conn_.reset();  // the next run connects again
            out.service_check("mysql.can_connect", CheckStatus::Critical, e.what());
            throw;
        }
        out.service_check("mysql.can_connect", CheckStatus::Ok);
    }

private:
    std::string where() const {
        return options_.socket.empty() ? "mysql " + options_.host + ":" + std::to_string(options_.port)
                                       : "mysql " + options_.socket;
    }

    static void set_timeouts(MYSQL* m, std::chrono::steady_clock::time_point deadline) {
        auto left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
        unsigned seconds = static_cast<unsigned>(std::max(1.0, std::ceil(left)));
        mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &seconds);
        mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &seconds);
        mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &seconds);
    }

    Connection connect(std::chrono::steady_clock::time_point deadline) const {
        Connection m(mysql_init(nullptr));
        if (!m) throw std::runtime_error(where() + ": mysql_init failed");
        set_timeouts(m.get(), deadline);
        const char* socket = options_.socket.empty() ? nullptr : options_.socket.c_str();
        if (!mysql_real_connect(m.get(), options_.socket.empty() ? options_.host.c_str() : nullptr,
                                options_.user.c_str(), options_.password.c_str(), nullptr, options_.port, socket, 0))
            throw std::runtime_error(where() + ": " + mysql_error(m.get()));
        return m;
    }

    // The rows of `sql`, each as column name -> value ("" for NULL).
    std::vector<std::map<std::string, std::string>> query(const std::string& sql) {
        if (mysql_query(conn_.get(), sql.c_str()) != 0)
            throw std::runtime_error(where() + ": " + sql + ": " + mysql_error(conn_.get()));
        Result res(mysql_store_result(conn_.get()));
        if (!res) throw std::runtime_error(where() + ": " + sql + ": " + mysql_error(conn_.get()));
        unsigned columns = mysql_num_fields(res.get());
        MYSQL_FIELD* fields = mysql_fetch_fields(res.get());
        std::vector<std::map<std::string, std::string>> rows;
        while (MYSQL_ROW row = mysql_fetch_row(res.get())) {
            unsigned long* lengths = mysql_fetch_lengths(res.get());
            auto& r = rows.emplace_back();
            for (unsigned i = 0; i < columns; ++i)
                r[fields[i].name] = row[i] ? std::string(row[i], lengths[i]) : std::string();
        }
        return rows;
    }

    // SHOW GLOBAL STATUS / VARIABLES: Variable_name -> Value.
    std::map<std::string, std::string> name_values(const std::string& sql) {
        std::map<std::string, std::string> out;
        for (auto& row : query(sql)) out[row["Variable_name"]] = row["Value"];
        return out;
    }

    void collect(CheckRun& out) {
        auto status = name_values("SHOW GLOBAL STATUS");
        auto variables = name_values("SHOW GLOBAL VARIABLES");
        report_all(out, kStatus, status);
        report_all(out, kVariables, variables);
        if (options_.extra_status) report_all(out, kExtraStatus, status);
        if (options_.extra_innodb) report_all(out, kExtraInnodb, status);

        // Derived, as Datadog's check does.
        auto block = number(variables, "key_cache_block_size");
        if (block) {
            if (auto n = number(status, "Key_blocks_not_flushed"))
                out.gauge("mysql.myisam.key_buffer_bytes_unflushed", *n * *block, {}, "bytes");
            if (auto n = number(status, "Key_blocks_used"))
                out.gauge("mysql.myisam.key_buffer_bytes_used", *n * *block, {}, "bytes");
            auto unused = number(status, "Key_blocks_unused");
            auto size = number(variables, "key_buffer_size");
            if (unused && size && *size > 0)
                out.gauge("mysql.performance.key_cache_utilization", 1 - *unused * *block / *size, {}, "fraction");
        }
        auto page = number(variables, "innodb_page_size");
        auto total = number(status, "Innodb_buffer_pool_pages_total");
        auto free = number(status, "Innodb_buffer_pool_pages_free");
        if (page && total && free) {
            out.gauge("mysql.innodb.buffer_pool_total", *total * *page, {}, "bytes");
            out.gauge("mysql.innodb.buffer_pool_free", *free * *page, {}, "bytes");
            out.gauge("mysql.innodb.buffer_pool_used", (*total - *free) * *page, {}, "bytes");
            if (*total > 0) out.gauge("mysql.innodb.buffer_pool_utilization", (*total - *free) / *total, {}, "fraction");
        }
        if (options_.replication) collect_replication(out, status);
    }

    void collect_replication(CheckRun& out, const std::map<std::string, std::string>& status) {
        if (auto n = number(status, "Slaves_connected")) {  // MariaDB; MySQL: SHOW REPLICAS
            out.gauge("mysql.replication.replicas_connected", *n);
            out.gauge("mysql.replication.slaves_connected", *n);
        }
        std::vector<std::map<std::string, std::string>> rows;
        try {
            rows = query("SHOW REPLICA STATUS");  // MariaDB 10.5+, MySQL 8.0.22+
        } catch (const std::runtime_error&) {
            rows = query("SHOW SLAVE STATUS");
        }
        if (rows.empty()) return;  // not a replica
        auto& r = rows.front();
        auto field = [&](const char* a, const char* b) -> std::string {
            if (r.count(a)) return r[a];
            return r.count(b) ? r[b] : std::string();
        };
        std::string io = field("Replica_IO_Running", "Slave_IO_Running");
        std::string sql = field("Replica_SQL_Running", "Slave_SQL_Running");
        bool running = io == "Yes" && sql == "Yes";
        out.gauge("mysql.replication.replica_running", running);
        out.gauge("mysql.replication.slave_running", running);
        std::string behind = field("Seconds_Behind_Source", "Seconds_Behind_Master");
        double seconds = 0;
        auto parsed = std::from_chars(behind.data(), behind.data() + behind.size(), seconds);
        if (!behind.empty() && parsed.ec == std::errc()) {  // NULL while a thread is stopped
            out.gauge("mysql.replication.seconds_behind_source", seconds, {}, "seconds");
            out.gauge("mysql.replication.seconds_behind_master", seconds, {}, "seconds");
        }
        std::string why;
        if (!running) {
            why = "replication IO thread: " + io + ", SQL thread: " + sql;
            for (const char* e : {"Last_IO_Error", "Last_SQL_Error"})
                if (!r[e].empty()) why += "; " + std::string(e) + ": " + r[e];
        }
        out.service_check("mysql.replication.replica_running", running ? CheckStatus::Ok : CheckStatus::Critical, why);
    }

    MysqlOptions options_;
    Connection conn_;
};

std::unique_ptr<Check> make_mysql_check(const InstanceConfig& config) {
    InstanceKeys keys(config);
    MysqlOptions o;
    o.host = keys.string("host", "localhost");
    o.port = static_cast<unsigned>(keys.integer("port", 3306, 1, 65535));
    o.socket = keys.string("sock", "");
    o.user = keys.string("username", keys.string("user", ""));
    if (o.user.empty()) keys.fail("username", "'username' is required");
    o.password = keys.password();
    o.replication = keys.boolean("replication", false);
    o.extra_status = keys.boolean("extra_status_metrics", false);
    o.extra_innodb = keys.boolean("extra_innodb_metrics", false);
    return std::make_unique<MysqlCheck>(std::move(o));
}

}  // namespace

PluginInfo mysql_plugin() {
    return {"mysql", "MySQL / MariaDB global status, variables and replication (libmariadb)", make_mysql_check,
            {"host", "port", "sock", "username", "user", "password", "password_env", "password_file", "replication",
             "extra_status_metrics", "extra_innodb_metrics"}};
}

}  // namespace tracer::collectors
