// The real servers from Debian that the integration plugins watch, set up as
// their plugins need them (monitoring users, status pages, sockets): shared by
// the plugin tests (collectors/<name>/*_test.cpp) and bench_plugin_cost. Each
// is a ServerProcess on a free loopback port with its own directory. Servers
// that need set-up beyond starting report skip_reason (binary missing: the
// caller skips) and start_error (it did not come up: the caller fails).
#pragma once

#include "apache_server.h"
#include "server_process.h"

#include <memory>
#include <string>
#include <vector>

typedef struct pg_conn PGconn;
typedef struct st_mysql MYSQL;

namespace tracer::fixtures {

// GET http://127.0.0.1:`port``path`; the HTTP status (0 if no answer).
int http_get(uint16_t port, const std::string& path);
// The same over the Unix socket `socket_path`: no stray TCP client can add to
// what the server counts.
int http_get_unix(const std::string& socket_path, const std::string& path);

// redis-server without persistence; `password` sets requirepass.
ServerProcess redis_server(const std::string& password = "");
// memcached on TCP only, 16 MiB, as nobody.
ServerProcess memcached_server();

// HAProxy: a frontend `fe` on a Unix socket (no stray TCP client adds sessions
// to it) whose backend `be` forwards to a second frontend answering 200
// itself (plus a backup server that is always down), a stats socket, and a
// stats page at /stats on the fixture's port behind basic auth monitor:s3cret.
struct HaproxyServer {
    HaproxyServer();
    ServerProcess server;
    std::string skip_reason, start_error;
    uint16_t origin_port;
    int request() const;  // one request through `fe`: its HTTP status (0: no answer)
    uint16_t stats_port() const { return server.port(); }
    std::string socket() const { return server.dir() + "/stats.sock"; }
};

// A static PHP-FPM pool of kPhpFpmChildren on a Unix socket, its status and
// ping pages (/status, /ping) proxied by an Apache httpd. Needs root (the
// pool and Apache's workers run as www-data).
constexpr int kPhpFpmChildren = 3;
struct PhpFpmPool {
    PhpFpmPool();
    ServerProcess server;
    std::string skip_reason, start_error;
    std::unique_ptr<ApacheServer> apache;
};

// MariaDB: mariadbd on the fixture's port and directory ({dir}/data,
// {dir}/mysqld.sock), `extra` arguments appended; ready once both its port
// and its socket are (it opens the socket after the port).
constexpr int kMariaDbMaxConnections = 77;
ServerProcess mariadb_server(std::vector<std::string> extra);

// A root session over a MariaDB server's Unix socket (unix_socket authentication).
class MariaDbRootSession {
public:
    explicit MariaDbRootSession(const std::string& socket);
    ~MariaDbRootSession();
    MariaDbRootSession(const MariaDbRootSession&) = delete;
    MariaDbRootSession& operator=(const MariaDbRootSession&) = delete;
    void exec(const std::string& sql);  // throws with the server's error
    // `column` of the first row of `sql`; "" if no row or NULL.
    std::string value(const std::string& sql, const std::string& column);

private:
    MYSQL* m_;
};

// A MariaDB primary (binary log on, kMariaDbMaxConnections), its data
// directory as mariadb-install-db made it kept aside in {dir}/pristine for a
// replica, a monitoring user tracer/s3cret on 127.0.0.1 and a replication
// user repl/r3pl. Needs root.
struct MariaDbPrimary {
    MariaDbPrimary();
    ServerProcess server;
    std::string skip_reason, start_error;
    std::string socket() const { return server.dir() + "/mysqld.sock"; }
};

// PostgreSQL: a program of the newest version installed ("" if none).
std::string postgres_program(const std::string& name);
constexpr int kPostgresMaxConnections = 37;
// postgres on the fixture's port, data in {dir}/data, its socket in {dir}.
std::vector<std::string> postgres_argv();
// Run as the postgres user; ready when it accepts sessions (not just
// connections: "the database system is starting up").
ServerProcess::Options as_postgres();
uid_t postgres_uid();

// A session as the superuser over a server's Unix socket (trust).
class PostgresSession {
public:
    PostgresSession(const std::string& socket_dir, uint16_t port, const std::string& db = "postgres");
    ~PostgresSession();
    PostgresSession(const PostgresSession&) = delete;
    PostgresSession& operator=(const PostgresSession&) = delete;
    // The first column of the first row ("" if none); throws with the server's error.
    std::string exec(const std::string& sql);

private:
    PGconn* c_ = nullptr;
};

// A PostgreSQL primary (initdb, then postgres as the postgres user), a
// monitoring role tracer/s3cret (pg_monitor) and a database `shop`.
struct PostgresPrimary {
    PostgresPrimary();
    ServerProcess server;
    std::string skip_reason, start_error;
    PostgresSession session(const std::string& db = "postgres") const {
        return PostgresSession(server.dir(), server.port(), db);
    }
};

}  // namespace tracer::fixtures
