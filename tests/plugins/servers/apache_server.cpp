#include "apache_server.h"

#include <signal.h>
#include <sys/stat.h>

namespace tracer::plugin_tests {

ApacheServer::ApacheServer(const std::string& extra_config, const std::string& extra_modules) {
    skip_reason_ = missing_binary({{"/usr/sbin/apache2", "apache2"}});
    if (!skip_reason_.empty()) return;
    dir_ = std::make_unique<TempDir>("tracer-apache");
    chmod(dir_->path().c_str(), 0755);  // the workers (www-data) serve index.html from it
    port_ = fixtures::free_tcp_port();
    const std::string mods = "/usr/lib/apache2/modules/";
    std::string conf = "ServerRoot " + dir_->path() + "\nDefaultRuntimeDir " + dir_->path() +
                       "\nServerName 127.0.0.1\nListen 127.0.0.1:" + std::to_string(port_) + "\nPidFile " +
                       dir_->file("httpd.pid") + "\nErrorLog " + dir_->file("error.log") +
                       "\nUser www-data\nGroup www-data\n"
                       "LoadModule mpm_event_module " + mods + "mod_mpm_event.so\n"
                       "LoadModule authz_core_module " + mods + "mod_authz_core.so\n"
                       "LoadModule status_module " + mods + "mod_status.so\n" +
                       extra_modules + "DocumentRoot " + dir_->path() + "\nExtendedStatus On\n"
                       "<Location /server-status>\n  SetHandler server-status\n</Location>\n" + extra_config;
    dir_->write("httpd.conf", conf);
    dir_->write("index.html", "hello\n");
    server_ = std::make_unique<RunningServer>(
        std::vector<std::string>{"/usr/sbin/apache2", "-f", dir_->file("httpd.conf"), "-DFOREGROUND"}, SIGTERM);
    if (!server_->wait_port(port_, start_error_)) start_error_ = "apache2: " + start_error_;
}

}  // namespace tracer::plugin_tests
