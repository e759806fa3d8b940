#include "collectors/confd.h"

#include "collectors/instance_keys.h"
#include "config/agent_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

namespace tracer::collectors {
namespace {

namespace fs = std::filesystem;

std::string at_line(const std::string& file, const YAML::Node& node) {
    if (!node.IsDefined() || node.Mark().is_null()) return file + ": ";
    return file + ":" + std::to_string(node.Mark().line + 1) + ": ";
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

std::vector<std::string> accepted_keys(const PluginInfo& plugin) {
    std::vector<std::string> keys = common_instance_keys();
    for (const auto& k : plugin.keys) {
        keys.push_back(k);
        if (k.find("password") != std::string::npos)  // secrets also come from a variable or a file
            for (const auto& s : secret_keys(k))
                if (s != k) keys.push_back(s);
    }
    return keys;
}

// Unknown keys of `map` (an instance or init_config) as one error, or "".
void check_keys(const YAML::Node& map, const std::vector<std::string>& keys, const std::string& file,
                const std::string& what, const std::string& plugin) {
    for (const auto& kv : map) {
        std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
        if (std::find(keys.begin(), keys.end(), key) == keys.end())
            throw config::ConfigError(at_line(file, kv.first) + "unknown key '" + key + "' in " + what + " of " +
                                      plugin + " (known keys: " + joined(keys) + ")");
    }
}

std::vector<std::string> read_tags(const YAML::Node& node, const std::string& file) {
    std::vector<std::string> tags;
    if (!node.IsDefined() || node.IsNull()) return tags;
    if (!node.IsSequence())
        throw config::ConfigError(at_line(file, node) + "'tags' must be a list of \"key:value\" strings");
    for (const auto& t : node) {
        if (!t.IsScalar() || t.Scalar().empty() || t.Scalar()[0] == ':')
            throw config::ConfigError(at_line(file, t) + "'tags' must be a list of \"key:value\" strings");
        tags.push_back(t.Scalar());
    }
    return tags;
}

void load_document(const YAML::Node& doc, const std::string& file, const PluginInfo& plugin,
                   const std::string& host_root, const std::shared_ptr<const HostServices>& host, ConfdLoad& out) {
    if (!doc.IsMap())
        throw config::ConfigError(at_line(file, doc) + "a conf.d file must be a map with 'init_config:' and 'instances:'");
    for (const auto& kv : doc) {
        std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
        if (key != "init_config" && key != "instances")
            throw config::ConfigError(at_line(file, kv.first) + "unknown top-level key '" + key +
                                      "' (a conf.d file has 'init_config:' and 'instances:')");
    }
    // (yaml-cpp: operator= on a Node writes into what it refers to; reset() rebinds it.)
    YAML::Node init;
    if (auto found = doc["init_config"]; found.IsDefined()) init.reset(found);
    auto keys = accepted_keys(plugin);
    if (init.IsDefined() && !init.IsNull()) {
        if (!init.IsMap()) throw config::ConfigError(at_line(file, init) + "'init_config' must be a map (or empty)");
        check_keys(init, keys, file, "init_config", plugin.name);
    }
    YAML::Node instances;
    if (auto found = doc["instances"]; found.IsDefined()) instances.reset(found);
    if (!instances.IsDefined() || instances.IsNull())
        throw config::ConfigError(file + ": no 'instances:' list (one entry per " + plugin.name + " to check)");
    if (!instances.IsSequence())
        throw config::ConfigError(at_line(file, instances) + "'instances' must be a list of maps");
    size_t index = 0;
    for (const auto& instance : instances) {
        InstanceConfig cfg;
        cfg.plugin = plugin.name;
        cfg.file = file;
        cfg.index = index++;
        cfg.init_config.reset(init);
        cfg.instance.reset(instance.IsNull() ? YAML::Node(YAML::NodeType::Map) : YAML::Node(instance));
        cfg.host_root = host_root;
        cfg.host = host;
        try {
            if (!cfg.instance.IsMap()) throw instance_error(cfg, "an instance must be a map of keys", instance);
            check_keys(cfg.instance, keys, file, "an instance", plugin.name);
            cfg.tags = read_tags(instance_value(cfg, "tags"), file);
            if (auto service = string_key(cfg, "service"); !service.empty()) cfg.tags.push_back("service:" + service);
            cfg.timeout_seconds = number_key(cfg, "timeout", 5, 0.001, 3600);
            cfg.min_collection_interval = number_key(cfg, "min_collection_interval", 0, 0, 86400);
            LoadedInstance loaded{cfg, &plugin, nullptr};
            loaded.check = std::shared_ptr<Check>(plugin.factory(cfg));
            if (!loaded.check) throw instance_error(cfg, "the plugin made no check of this instance");
            out.instances.push_back(std::move(loaded));
        } catch (const config::ConfigError& e) {
            out.problems.push_back({file, e.what()});
        } catch (const std::exception& e) {
            out.problems.push_back({file, instance_where(cfg) + e.what()});
        }
    }
}

void load_file_text(const std::string& text, const std::string& file, const std::string& plugin_name,
                    const std::string& host_root, const std::shared_ptr<const HostServices>& host, ConfdLoad& out) {
    try {
        const PluginInfo* plugin = find_plugin(plugin_name);
        if (!plugin) {
            std::vector<std::string> names;
            for (const auto& p : plugin_registry()) names.push_back(p.name);
            throw config::ConfigError(file + ": unknown plugin '" + plugin_name + "' (the file name says which plugin; known: " +
                                      joined(names) + ")");
        }
        YAML::Node doc;
        try {
            doc = YAML::Load(text);
        } catch (const YAML::Exception& e) {
            std::string where = e.mark.is_null() ? file + ": "
                                                 : file + ":" + std::to_string(e.mark.line + 1) + ":" +
                                                       std::to_string(e.mark.column + 1) + ": ";
            throw config::ConfigError(where + "invalid YAML: " + e.msg);
        }
        load_document(doc, file, *plugin, host_root, host, out);
    } catch (const config::ConfigError& e) {
        out.problems.push_back({file, e.what()});
    }
}

}  // namespace

const std::vector<std::string>& common_instance_keys() {
    static const std::vector<std::string> keys = {"tags", "min_collection_interval", "timeout", "service"};
    return keys;
}

ConfdLoad load_confd_text(const std::string& text, const std::string& file, const std::string& plugin_name,
                          const std::string& host_root, std::shared_ptr<const HostServices> host) {
    ConfdLoad out;
    load_file_text(text, file, plugin_name, host_root, host, out);
    return out;
}

ConfdLoad load_confd(const ConfdOptions& options) {
    ConfdLoad out;
    std::error_code ec;
    if (!fs::is_directory(options.dir, ec)) {
        if (options.missing_dir_is_error)
            out.problems.push_back({options.dir, options.dir + ": no such conf.d directory (--confd DIR)"});
        return out;
    }
    std::vector<std::pair<std::string, std::string>> files;  // path, plugin
    auto is_yaml = [](const fs::path& p) { return p.extension() == ".yaml" || p.extension() == ".yml"; };
    for (const auto& entry : fs::directory_iterator(options.dir, ec)) {
        const auto& p = entry.path();
        if (entry.is_regular_file(ec) && is_yaml(p)) {
            files.emplace_back(p.string(), p.stem().string());
        } else if (entry.is_directory(ec) && p.extension() == ".d") {
            for (const auto& inner : fs::directory_iterator(p, ec))
                if (inner.is_regular_file(ec) && is_yaml(inner.path()))
                    files.emplace_back(inner.path().string(), p.stem().string());
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& [path, plugin] : files) {
        if (!options.only_plugin.empty() && plugin != options.only_plugin) continue;
        std::ifstream in(path);
        if (!in) {
            out.problems.push_back({path, path + ": cannot read"});
            continue;
        }
        std::string text((std::istreambuf_iterator<char>(in)), {});
        load_file_text(text, path, plugin, options.host_root, options.host, out);
    }
    return out;
}

}  // namespace tracer::collectors
