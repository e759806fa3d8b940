#include "plugin_servers.h"

#include <httplib.h>
#include <libpq-fe.h>
#include <mysql.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace tracer::fixtures {

int http_get(uint16_t port, const std::string& path) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    auto res = client.Get(path);
    return res ? res->status : 0;
}

int http_get_unix(const std::string& socket_path, const std::string& path) {
    httplib::Client client(socket_path);
    client.set_address_family(AF_UNIX);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    auto res = client.Get(path);
    return res ? res->status : 0;
}

ServerProcess redis_server(const std::string& password) {
    std::vector<std::string> argv{"/usr/bin/redis-server", "--port", "{port}", "--bind", "127.0.0.1",
                                  "--dir", "{dir}", "--save", "", "--appendonly", "no", "--daemonize", "no"};
    if (!password.empty()) argv.insert(argv.end(), {"--requirepass", password});
    return ServerProcess(argv);
}

ServerProcess memcached_server() {
    return ServerProcess({"/usr/bin/memcached", "-l", "127.0.0.1", "-p", "{port}", "-U", "0", "-u", "nobody", "-m", "16"});
}

HaproxyServer::HaproxyServer()
    : server({"/usr/sbin/haproxy", "-f", "{dir}/haproxy.cfg", "-db"},
             {.ready =
                  [](const ServerProcess& s) {
                      return accepts_tcp(s.port()) && access((s.dir() + "/stats.sock").c_str(), F_OK) == 0 &&
                             access((s.dir() + "/fe.sock").c_str(), F_OK) == 0;
                  }}),
      skip_reason(server.skip_reason("haproxy")),
      origin_port(free_tcp_port()) {
    if (!skip_reason.empty()) return;
    auto port = [](uint16_t p) { return "127.0.0.1:" + std::to_string(p); };
    server.write_file("haproxy.cfg",
                      "global\n  stats socket {dir}/stats.sock mode 600 level admin\n"
                      "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n"
                      "frontend fe\n  bind unix@{dir}/fe.sock\n  default_backend be\n"
                      "backend be\n  server s1 " + port(origin_port) + " check inter 100ms\n"
                      // never reachable: marked down by its health checks, a backup so it gets no traffic
                      "  server s2 " + port(free_tcp_port()) + " check inter 100ms fall 2 backup\n"
                      "frontend origin\n  bind " + port(origin_port) + "\n"
                      "  http-request return status 200 content-type text/plain string ok\n"
                      "listen stats\n  bind 127.0.0.1:{port}\n  stats enable\n  stats uri /stats\n"
                      "  stats auth monitor:s3cret\n");
    if (!server.start()) start_error = "haproxy did not start: " + server.output();
}

int HaproxyServer::request() const { return http_get_unix(server.dir() + "/fe.sock", "/"); }

namespace {
constexpr const char* kPhpFpm = "/usr/sbin/php-fpm8.2";
}  // namespace

PhpFpmPool::PhpFpmPool()
    : server({kPhpFpm, "-y", "{dir}/php-fpm.conf", "-F", "-n"},
             {.ready = [](const ServerProcess& s) { return access((s.dir() + "/php-fpm.sock").c_str(), F_OK) == 0; }}),
      skip_reason(server.skip_reason("php-fpm")) {
    if (skip_reason.empty() && geteuid() != 0) skip_reason = "needs root (the pool runs as www-data)";
    if (!skip_reason.empty()) return;
    server.write_file("php-fpm.conf", "[global]\npid = {dir}/php-fpm.pid\nerror_log = {dir}/php-fpm.log\n"
                                      "daemonize = no\n[tracer]\nuser = www-data\ngroup = www-data\n"
                                      "listen = {dir}/php-fpm.sock\nlisten.owner = www-data\nlisten.group = www-data\npm = static\npm.max_children = " +
                                          std::to_string(kPhpFpmChildren) + "\npm.status_path = /status\nping.path = /ping\n");
    chmod(server.dir().c_str(), 0755);  // Apache's workers (www-data) reach the socket in it
    if (!server.start()) {
        start_error = "php-fpm did not start: " + server.output();
        return;
    }
    const std::string mods = "/usr/lib/apache2/modules/";
    apache = std::make_unique<ApacheServer>(
        "<LocationMatch \"^/(status|ping)$\">\n  SetHandler \"proxy:unix:" + server.dir() +
            "/php-fpm.sock|fcgi://localhost\"\n</LocationMatch>\n",
        "LoadModule proxy_module " + mods + "mod_proxy.so\nLoadModule proxy_fcgi_module " + mods +
            "mod_proxy_fcgi.so\n");
    skip_reason = apache->skip_reason();
    start_error = apache->start_error();
}

namespace {
constexpr const char* kMariadbd = "/usr/sbin/mariadbd";
constexpr const char* kInstallDb = "/usr/bin/mariadb-install-db";
}  // namespace

ServerProcess mariadb_server(std::vector<std::string> extra) {
    std::vector<std::string> argv = {kMariadbd, "--no-defaults", "--datadir={dir}/data", "--socket={dir}/mysqld.sock",
                                     "--port={port}", "--bind-address=127.0.0.1", "--user=root",
                                     "--skip-name-resolve", "--pid-file={dir}/mysqld.pid",
                                     // small: the suite's servers start in seconds
                                     "--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto ready = [](const ServerProcess& s) {
        return accepts_tcp(s.port()) && access((s.dir() + "/mysqld.sock").c_str(), F_OK) == 0;
    };
    return ServerProcess(argv, {.ready = ready});
}

MariaDbRootSession::MariaDbRootSession(const std::string& socket) : m_(mysql_init(nullptr)) {
    if (!mysql_real_connect(m_, nullptr, "root", nullptr, nullptr, 0, socket.c_str(), 0)) {
        std::string why = mysql_error(m_);
        mysql_close(m_);
        throw std::runtime_error("connect " + socket + ": " + why);
    }
}

MariaDbRootSession::~MariaDbRootSession() { mysql_close(m_); }

void MariaDbRootSession::exec(const std::string& sql) {
    if (mysql_query(m_, sql.c_str()) != 0) throw std::runtime_error(sql + ": " + mysql_error(m_));
    if (MYSQL_RES* r = mysql_store_result(m_)) mysql_free_result(r);
}

std::string MariaDbRootSession::value(const std::string& sql, const std::string& column) {
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

MariaDbPrimary::MariaDbPrimary()
    : server(mariadb_server({"--server-id=1", "--log-bin={dir}/data/binlog",
                             "--max-connections=" + std::to_string(kMariaDbMaxConnections)})),
      skip_reason(server.skip_reason("mariadb-server")) {
    if (skip_reason.empty() && access(kInstallDb, X_OK) != 0) skip_reason = std::string(kInstallDb) + " is missing";
    if (skip_reason.empty() && geteuid() != 0) skip_reason = "needs root (mariadbd --user=root, root over its socket)";
    if (!skip_reason.empty()) return;
    Subprocess installer({kInstallDb, "--no-defaults", "--datadir=" + server.dir() + "/data", "--user=root",
                          "--auth-root-authentication-method=socket", "--skip-test-db", "--innodb-log-file-size=4M",
                          "--innodb-buffer-pool-size=16M"});
    if (installer.wait_for(std::chrono::seconds(120)) != 0) {
        start_error = "mariadb-install-db failed: " + installer.output();
        return;
    }
    std::filesystem::copy(server.dir() + "/data", server.dir() + "/pristine", std::filesystem::copy_options::recursive);
    if (!server.start()) {
        start_error = "mariadbd did not start: " + server.output();
        return;
    }
    try {
        MariaDbRootSession p(socket());
        p.exec("CREATE USER 'tracer'@'127.0.0.1' IDENTIFIED BY 's3cret'");
        p.exec("GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'tracer'@'127.0.0.1'");
        p.exec("CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'r3pl'");
        p.exec("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'");
    } catch (const std::exception& e) {
        start_error = e.what();
    }
}

std::string postgres_program(const std::string& name) {
    std::string best;
    std::error_code ec;
    for (const auto& version : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
        auto path = version.path() / "bin" / name;
        if (std::filesystem::exists(path) && path.string() > best) best = path.string();
    }
    return best;
}

std::vector<std::string> postgres_argv() {
    return {postgres_program("postgres"), "-D", "{dir}/data", "-p", "{port}", "-k", "{dir}", "-c",
            "listen_addresses=127.0.0.1", "-c", "max_connections=" + std::to_string(kPostgresMaxConnections), "-c",
            "fsync=off", "-c", "shared_buffers=16MB"};
}

ServerProcess::Options as_postgres() {
    return {.run_as = "postgres", .ready = [](const ServerProcess& s) {
                std::string conninfo = "host=" + s.dir() + " port=" + std::to_string(s.port()) + " user=postgres dbname=postgres";
                return PQping(conninfo.c_str()) == PQPING_OK;
            }};
}

uid_t postgres_uid() {
    const passwd* pw = getpwnam("postgres");
    return pw ? pw->pw_uid : static_cast<uid_t>(-1);
}

PostgresSession::PostgresSession(const std::string& socket_dir, uint16_t port, const std::string& db) {
    std::string port_text = std::to_string(port);
    const char* keys[] = {"host", "port", "user", "dbname", nullptr};
    const char* values[] = {socket_dir.c_str(), port_text.c_str(), "postgres", db.c_str(), nullptr};
    c_ = PQconnectdbParams(keys, values, 0);
    if (PQstatus(c_) != CONNECTION_OK) {
        std::string why = PQerrorMessage(c_);
        PQfinish(c_);
        throw std::runtime_error("connect to " + socket_dir + ": " + why);
    }
}

PostgresSession::~PostgresSession() { PQfinish(c_); }

std::string PostgresSession::exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    auto status = PQresultStatus(r);
    std::string out = status == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    std::string why = PQresultErrorMessage(r);
    PQclear(r);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) throw std::runtime_error(sql + ": " + why);
    return out;
}

PostgresPrimary::PostgresPrimary() : server(postgres_argv(), as_postgres()), skip_reason(server.skip_reason("postgresql")) {
    if (!skip_reason.empty()) return;
    Subprocess initdb({postgres_program("initdb"), "-D", server.dir() + "/data", "-U", "postgres", "--auth-local=trust",
                       "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"},
                      postgres_uid());
    if (initdb.wait_for(std::chrono::seconds(120)) != 0) {
        start_error = "initdb failed: " + initdb.output();
        return;
    }
    if (!server.start()) {
        start_error = "postgres did not start: " + server.output();
        return;
    }
    try {
        PostgresSession s = session();
        s.exec("CREATE ROLE tracer LOGIN PASSWORD 's3cret'");
        s.exec("GRANT pg_monitor TO tracer");
        s.exec("CREATE DATABASE shop");
    } catch (const std::exception& e) {
        start_error = e.what();
    }
}

}  // namespace tracer::fixtures
