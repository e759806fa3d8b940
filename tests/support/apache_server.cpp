#include "apache_server.h"

#include <sys/stat.h>
#include <unistd.h>

namespace tracer::fixtures {

ApacheServer::ApacheServer(const std::string& extra_config, const std::string& extra_modules)
    : server_({"/usr/sbin/apache2", "-f", "{dir}/httpd.conf", "-DFOREGROUND"}) {
    skip_reason_ = server_.skip_reason("apache2");
    if (skip_reason_.empty() && geteuid() != 0) skip_reason_ = "needs root (apache2 switches its workers to www-data)";
    if (!skip_reason_.empty()) return;
    chmod(server_.dir().c_str(), 0755);  // the workers (www-data) serve index.html from it
    const std::string mods = "/usr/lib/apache2/modules/";
    server_.write_file("httpd.conf",
                       "ServerRoot {dir}\nDefaultRuntimeDir {dir}\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n"
                       "PidFile {dir}/httpd.pid\nErrorLog {dir}/error.log\nUser www-data\nGroup www-data\n"
                       "LoadModule mpm_event_module " + mods + "mod_mpm_event.so\n"
                       "LoadModule authz_core_module " + mods + "mod_authz_core.so\n"
                       "LoadModule status_module " + mods + "mod_status.so\n" + extra_modules +
                       "DocumentRoot {dir}\nExtendedStatus On\n"
                       "<Location /server-status>\n  SetHandler server-status\n</Location>\n" + extra_config);
    server_.write_file("index.html", "hello\n");
    if (!server_.start()) start_error_ = "apache2 did not start: " + server_.output();
}

}  // namespace tracer::fixtures
