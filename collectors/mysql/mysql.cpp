#include "collectors/mysql/mysql.h"

#include "collectors/instance_keys.h"
#include "collectors/kept_connection.h"
#include "collectors/metric_table.h"

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

using Var = MetricColumn;

// SHOW GLOBAL STATUS
constexpr Var kStatus[] = {
    {"Prepared_stmt_count", "mysql.performance.prepared_stmt_count", kGauge},
    {"Slow_queries", "mysql.performance.slow_queries", kRate},
    {"Questions", "mysql.performance.questions", kRate},
    {"Queries", "mysql.performance.queries", kRate},
    {"Com_select", "mysql.performance.com_select", kRate},
    {"Com_insert", "mysql.performance.com_insert", kRate},
    {"Com_update", "mysql.performance.com_update", kRate},
    {"Com_delete", "mysql.performance.com_delete", kRate},
    {"Com_replace", "mysql.performance.com_replace", kRate},
    {"Com_load", "mysql.performance.com_load", kRate},
    {"Com_insert_select", "mysql.performance.com_insert_select", kRate},
    {"Com_update_multi", "mysql.performance.com_update_multi", kRate},
    {"Com_delete_multi", "mysql.performance.com_delete_multi", kRate},
    {"Com_replace_select", "mysql.performance.com_replace_select", kRate},
    {"Connections", "mysql.net.connections", kRate},
    {"Max_used_connections", "mysql.net.max_connections", kGauge},
    {"Aborted_clients", "mysql.net.aborted_clients", kRate},
    {"Aborted_connects", "mysql.net.aborted_connects", kRate},
    {"Open_files", "mysql.performance.open_files", kGauge},
    {"Open_tables", "mysql.performance.open_tables", kGauge},
    {"Bytes_sent", "mysql.performance.bytes_sent", kRate, "bytes"},
    {"Bytes_received", "mysql.performance.bytes_received", kRate, "bytes"},
    {"Qcache_hits", "mysql.performance.qcache_hits", kRate},
    {"Qcache_inserts", "mysql.performance.qcache_inserts", kRate},
    {"Qcache_lowmem_prunes", "mysql.performance.qcache_lowmem_prunes", kRate},
    {"Table_locks_waited", "mysql.performance.table_locks_waited", kGauge},
    {"Table_locks_waited", "mysql.performance.table_locks_waited.rate", kRate},
    {"Created_tmp_tables", "mysql.performance.created_tmp_tables", kRate},
    {"Created_tmp_disk_tables", "mysql.performance.created_tmp_disk_tables", kRate},
    {"Created_tmp_files", "mysql.performance.created_tmp_files", kRate},
    {"Threads_connected", "mysql.performance.threads_connected", kGauge},
    {"Threads_running", "mysql.performance.threads_running", kGauge},
    {"Key_read_requests", "mysql.myisam.key_read_requests", kRate},
    {"Key_reads", "mysql.myisam.key_reads", kRate},
    {"Key_write_requests", "mysql.myisam.key_write_requests", kRate},
    {"Key_writes", "mysql.myisam.key_writes", kRate},
    // InnoDB
    {"Innodb_data_reads", "mysql.innodb.data_reads", kRate},
    {"Innodb_data_writes", "mysql.innodb.data_writes", kRate},
    {"Innodb_os_log_fsyncs", "mysql.innodb.os_log_fsyncs", kRate},
    {"Innodb_row_lock_waits", "mysql.innodb.row_lock_waits", kRate},
    {"Innodb_row_lock_time", "mysql.innodb.row_lock_time", kRate, "milliseconds"},
    {"Innodb_row_lock_current_waits", "mysql.innodb.row_lock_current_waits", kGauge},
    {"Innodb_buffer_pool_bytes_dirty", "mysql.innodb.buffer_pool_dirty", kGauge, "bytes"},
    {"Innodb_buffer_pool_read_requests", "mysql.innodb.buffer_pool_read_requests", kRate},
    {"Innodb_buffer_pool_reads", "mysql.innodb.buffer_pool_reads", kRate},
};

// SHOW GLOBAL STATUS, with `extra_status_metrics: true`
constexpr Var kExtraStatus[] = {
    {"Binlog_cache_disk_use", "mysql.binlog.cache_disk_use", kGauge},
    {"Binlog_cache_use", "mysql.binlog.cache_use", kGauge},
    {"Handler_commit", "mysql.performance.handler_commit", kRate},
    {"Handler_delete", "mysql.performance.handler_delete", kRate},
    {"Handler_prepare", "mysql.performance.handler_prepare", kRate},
    {"Handler_read_first", "mysql.performance.handler_read_first", kRate},
    {"Handler_read_key", "mysql.performance.handler_read_key", kRate},
    {"Handler_read_next", "mysql.performance.handler_read_next", kRate},
    {"Handler_read_prev", "mysql.performance.handler_read_prev", kRate},
    {"Handler_read_rnd", "mysql.performance.handler_read_rnd", kRate},
    {"Handler_read_rnd_next", "mysql.performance.handler_read_rnd_next", kRate},
    {"Handler_rollback", "mysql.performance.handler_rollback", kRate},
    {"Handler_update", "mysql.performance.handler_update", kRate},
    {"Handler_write", "mysql.performance.handler_write", kRate},
    {"Opened_tables", "mysql.performance.opened_tables", kRate},
    {"Qcache_total_blocks", "mysql.performance.qcache_total_blocks", kGauge},
    {"Qcache_free_blocks", "mysql.performance.qcache_free_blocks", kGauge},
    {"Qcache_free_memory", "mysql.performance.qcache_free_memory", kGauge, "bytes"},
    {"Qcache_not_cached", "mysql.performance.qcache_not_cached", kRate},
    {"Qcache_queries_in_cache", "mysql.performance.qcache_queries_in_cache", kGauge},
    {"Select_full_join", "mysql.performance.select_full_join", kRate},
    {"Select_full_range_join", "mysql.performance.select_full_range_join", kRate},
    {"Select_range", "mysql.performance.select_range", kRate},
    {"Select_range_check", "mysql.performance.select_range_check", kRate},
    {"Select_scan", "mysql.performance.select_scan", kRate},
    {"Sort_merge_passes", "mysql.performance.sort_merge_passes", kRate},
    {"Sort_range", "mysql.performance.sort_range", kRate},
    {"Sort_rows", "mysql.performance.sort_rows", kRate},
    {"Sort_scan", "mysql.performance.sort_scan", kRate},
    {"Table_locks_immediate", "mysql.performance.table_locks_immediate", kGauge},
    {"Table_locks_immediate", "mysql.performance.table_locks_immediate.rate", kRate},
    {"Threads_cached", "mysql.performance.threads_cached", kGauge},
    {"Threads_created", "mysql.performance.threads_created", kCount},
    {"Table_open_cache_hits", "mysql.performance.table_cache_hits", kRate},
    {"Table_open_cache_misses", "mysql.performance.table_cache_misses", kRate},
};

// SHOW GLOBAL STATUS, with `extra_innodb_metrics: true`
constexpr Var kExtraInnodb[] = {
    {"Innodb_buffer_pool_bytes_data", "mysql.innodb.buffer_pool_data", kGauge, "bytes"},
    {"Innodb_buffer_pool_pages_data", "mysql.innodb.buffer_pool_pages_data", kGauge},
    {"Innodb_buffer_pool_pages_dirty", "mysql.innodb.buffer_pool_pages_dirty", kGauge},
    {"Innodb_buffer_pool_pages_flushed", "mysql.innodb.buffer_pool_pages_flushed", kRate},
    {"Innodb_buffer_pool_pages_free", "mysql.innodb.buffer_pool_pages_free", kGauge},
    {"Innodb_buffer_pool_pages_total", "mysql.innodb.buffer_pool_pages_total", kGauge},
    {"Innodb_buffer_pool_read_ahead", "mysql.innodb.buffer_pool_read_ahead", kRate},
    {"Innodb_buffer_pool_read_ahead_evicted", "mysql.innodb.buffer_pool_read_ahead_evicted", kRate},
    {"Innodb_buffer_pool_read_ahead_rnd", "mysql.innodb.buffer_pool_read_ahead_rnd", kGauge},
    {"Innodb_buffer_pool_wait_free", "mysql.innodb.buffer_pool_wait_free", kCount},
    {"Innodb_buffer_pool_write_requests", "mysql.innodb.buffer_pool_write_requests", kRate},
    {"Innodb_checkpoint_age", "mysql.innodb.checkpoint_age", kGauge},
    {"Innodb_data_fsyncs", "mysql.innodb.data_fsyncs", kRate},
    {"Innodb_data_pending_fsyncs", "mysql.innodb.data_pending_fsyncs", kGauge},
    {"Innodb_data_pending_reads", "mysql.innodb.data_pending_reads", kGauge},
    {"Innodb_data_pending_writes", "mysql.innodb.data_pending_writes", kGauge},
    {"Innodb_data_read", "mysql.innodb.data_read", kRate, "bytes"},
    {"Innodb_data_written", "mysql.innodb.data_written", kRate, "bytes"},
    {"Innodb_dblwr_pages_written", "mysql.innodb.dblwr_pages_written", kRate},
    {"Innodb_dblwr_writes", "mysql.innodb.dblwr_writes", kRate},
    {"Innodb_history_list_length", "mysql.innodb.history_list_length", kGauge},
    {"Innodb_ibuf_free_list", "mysql.innodb.ibuf_free_list", kGauge},
    {"Innodb_ibuf_merged_delete_marks", "mysql.innodb.ibuf_merged_delete_marks", kRate},
    {"Innodb_ibuf_merged_deletes", "mysql.innodb.ibuf_merged_deletes", kRate},
    {"Innodb_ibuf_merged_inserts", "mysql.innodb.ibuf_merged_inserts", kRate},
    {"Innodb_ibuf_merges", "mysql.innodb.ibuf_merges", kRate},
    {"Innodb_ibuf_segment_size", "mysql.innodb.ibuf_segment_size", kGauge},
    {"Innodb_ibuf_size", "mysql.innodb.ibuf_size", kGauge},
    {"Innodb_log_waits", "mysql.innodb.log_waits", kRate},
    {"Innodb_log_write_requests", "mysql.innodb.log_write_requests", kRate},
    {"Innodb_log_writes", "mysql.innodb.log_writes", kRate},
    {"Innodb_lsn_current", "mysql.innodb.lsn_current", kRate},
    {"Innodb_lsn_flushed", "mysql.innodb.lsn_flushed", kRate},
    {"Innodb_lsn_last_checkpoint", "mysql.innodb.lsn_last_checkpoint", kRate},
    {"Innodb_mem_adaptive_hash", "mysql.innodb.mem_adaptive_hash", kGauge, "bytes"},
    {"Innodb_mem_dictionary", "mysql.innodb.mem_dictionary", kGauge, "bytes"},
    {"Innodb_mem_total", "mysql.innodb.mem_total", kGauge, "bytes"},
    {"Innodb_os_log_pending_fsyncs", "mysql.innodb.os_log_pending_fsyncs", kGauge},
    {"Innodb_os_log_pending_writes", "mysql.innodb.os_log_pending_writes", kGauge},
    {"Innodb_os_log_written", "mysql.innodb.os_log_written", kRate, "bytes"},
    {"Innodb_pages_created", "mysql.innodb.pages_created", kRate},
    {"Innodb_pages_read", "mysql.innodb.pages_read", kRate},
    {"Innodb_pages_written", "mysql.innodb.pages_written", kRate},
    {"Innodb_rows_deleted", "mysql.innodb.rows_deleted", kRate},
    {"Innodb_rows_inserted", "mysql.innodb.rows_inserted", kRate},
    {"Innodb_rows_read", "mysql.innodb.rows_read", kRate},
    {"Innodb_rows_updated", "mysql.innodb.rows_updated", kRate},
};

// SHOW GLOBAL VARIABLES
constexpr Var kVariables[] = {
    {"key_buffer_size", "mysql.myisam.key_buffer_size", kGauge, "bytes"},
    {"max_connections", "mysql.net.max_connections_available", kGauge},
    {"max_prepared_stmt_count", "mysql.performance.max_prepared_stmt_count", kGauge},
    {"query_cache_size", "mysql.performance.qcache_size", kGauge, "bytes"},
    {"table_open_cache", "mysql.performance.table_open_cache", kGauge},
    {"thread_cache_size", "mysql.performance.thread_cache_size", kGauge},
};

// What collect() derives metrics from beside the tables above (the names a
// run asks the server for are these and the tables').
constexpr const char* kDerivedStatus[] = {"Key_blocks_not_flushed", "Key_blocks_used", "Key_blocks_unused",
                                          "Innodb_buffer_pool_pages_total", "Innodb_buffer_pool_pages_free"};
constexpr const char* kDerivedVariables[] = {"key_cache_block_size", "innodb_page_size"};
constexpr const char* kSlavesConnected = "Slaves_connected";  // with `replication: true`

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

template <size_t N>
void report_all(CheckRun& out, const Var (&table)[N], const std::map<std::string, std::string>& vars) {
    for (const auto& v : table)
        if (auto value = number(vars, v.source)) report_metric(out, v, *value);
}

class MysqlCheck : public Check {
public:
    explicit MysqlCheck(MysqlOptions options)
        : options_(std::move(options)), status_query_(status_query()), variables_query_(variables_query()) {}

    // One connection is kept between runs (collectors/kept_connection.h).
    void run(CheckRun& out) override {
        try {
            auto status = first_round_trip(conn_, [&] { return connect(out.deadline()); }, [&] {
                set_timeouts(conn_.get(), out.deadline());
                return name_values(status_query_);
            });
            collect(out, status);
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

    // SHOW GLOBAL STATUS / VARIABLES of only the names a run reads, as one
    // statement each: the server then renders ~50 rows instead of ~500 and
    // ~650, less than half the server CPU per run (bench_plugin_cost). Names
    // the server does not have are simply absent, as before.
    static std::string show_only(const char* what, const std::vector<std::string>& names) {
        std::string sql = std::string("SHOW GLOBAL ") + what + " WHERE Variable_name IN (";
        for (size_t i = 0; i < names.size(); ++i) sql += (i ? ",'" : "'") + names[i] + "'";  // our constants
        return sql + ")";
    }
    template <size_t N>
    static void add_names(std::vector<std::string>& names, const Var (&table)[N]) {
        for (const auto& v : table) names.push_back(v.source);
    }
    std::string status_query() const {
        std::vector<std::string> names(std::begin(kDerivedStatus), std::end(kDerivedStatus));
        add_names(names, kStatus);
        if (options_.extra_status) add_names(names, kExtraStatus);
        if (options_.extra_innodb) add_names(names, kExtraInnodb);
        if (options_.replication) names.push_back(kSlavesConnected);
        return show_only("STATUS", names);
    }
    static std::string variables_query() {
        std::vector<std::string> names(std::begin(kDerivedVariables), std::end(kDerivedVariables));
        add_names(names, kVariables);
        return show_only("VARIABLES", names);
    }

    // SHOW GLOBAL STATUS / VARIABLES: Variable_name -> Value.
    std::map<std::string, std::string> name_values(const std::string& sql) {
        std::map<std::string, std::string> out;
        for (auto& row : query(sql)) out[row["Variable_name"]] = row["Value"];
        return out;
    }

    // `status`: SHOW GLOBAL STATUS, the run's first round trip.
    void collect(CheckRun& out, const std::map<std::string, std::string>& status) {
        auto variables = name_values(variables_query_);
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
        if (auto n = number(status, kSlavesConnected)) {  // MariaDB; MySQL: SHOW REPLICAS
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
    std::string status_query_, variables_query_;
    Connection conn_;
};

std::unique_ptr<Check> make_mysql_check(const InstanceConfig& config) {
    MysqlOptions o;
    o.host = string_key(config, "host", "localhost");
    o.port = static_cast<unsigned>(number_key(config, "port", 3306, 1, 65535));
    o.socket = string_key(config, "sock", "");
    o.user = string_key(config, "username", string_key(config, "user", ""));
    if (o.user.empty()) throw instance_error(config, "'username' is required");
    o.password = secret_key(config);
    o.replication = bool_key(config, "replication", false);
    o.extra_status = bool_key(config, "extra_status_metrics", false);
    o.extra_innodb = bool_key(config, "extra_innodb_metrics", false);
    if (auto options = instance_value(config, "options"); options.IsDefined()) {  // Datadog's layout
        if (!options.IsMap()) throw instance_error(config, "'options' must be a map", options);
        InstanceConfig nested = config;
        nested.instance = options;
        nested.init_config = YAML::Node();
        for (const auto& item : nested.instance) {
            auto key = item.first.as<std::string>();
            if (key != "replication" && key != "extra_status_metrics" && key != "extra_innodb_metrics")
                throw instance_error(config,
                                     "unknown key 'options." + key +
                                         "' (known: replication, extra_status_metrics, extra_innodb_metrics)",
                                     item.first);
        }
        o.replication = bool_key(nested, "replication", o.replication);
        o.extra_status = bool_key(nested, "extra_status_metrics", o.extra_status);
        o.extra_innodb = bool_key(nested, "extra_innodb_metrics", o.extra_innodb);
    }
    return std::make_unique<MysqlCheck>(std::move(o));
}

}  // namespace

PluginInfo mysql_plugin() {
    return {"mysql", "MySQL / MariaDB global status, variables and replication (libmariadb)", make_mysql_check,
            {"host", "port", "sock", "username", "user", "password", "password_env", "password_file", "replication",
             "extra_status_metrics", "extra_innodb_metrics", "options"}};
}

}  // namespace tracer::collectors
