#include "nginx_server.h"

#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace tracer::fixtures {

NginxServer::NginxServer(const std::string& extra_locations)
    : ServerProcess({"/usr/sbin/nginx", "-p", "{dir}", "-c", "{dir}/nginx.conf", "-e", "{dir}/error.log",
                     "-g", "daemon off;"}) {
    write_file("nginx.conf",
               "worker_processes 1;\n"
               "pid {dir}/nginx.pid;\n"
               "error_log {dir}/error.log;\n"
               "events { worker_connections 64; }\n"
               "http {\n"
               "  access_log off;\n"
               "  client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;\n"
               "  uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;\n"
               "  server {\n"
               "    listen 127.0.0.1:{port};\n"
               "    root {dir}/html;\n"
               "    location = /nginx_status { stub_status; }\n" +
                   extra_locations +
                   "  }\n"
                   "}\n");
    write_file("html/index.html", "hello from the test nginx\n");
    write_file("tmp/.keep", "");
    chmod(dir().c_str(), 0755);  // the worker runs as nobody when the test is root
}

void NginxServer::put(const std::string& name, const std::string& content) const { write_file("html/" + name, content); }

std::string NginxServer::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
}

SilentServer::SilentServer() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0)
        throw std::runtime_error(std::string("silent server: ") + std::strerror(errno));
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
}

SilentServer::~SilentServer() {
    if (fd_ >= 0) close(fd_);
}

}  // namespace tracer::fixtures
