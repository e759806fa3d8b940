// conf.d loading: keys, defaults, secrets, and one clear error per bad file
// or instance (file:line) while the rest loads. No servers, no root.
#include "collectors/confd.h"
#include "collectors/instance_keys.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tracer::collectors {
namespace {

TEST(Confd, ReadsInstancesWithCommonKeysAndDefaults) {
    auto load = load_confd_text(
        "init_config:\n"
        "  timeout: 2\n"
        "instances:\n"
        "  - host: 127.0.0.1\n"
        "    port: 7000\n"
        "    tags: [env:test, team:db]\n"
        "    min_collection_interval: 30\n"
        "  - port: 7001\n"
        "    timeout: 0.5\n"
        "    service: cache\n",
        "redis.yaml", "redis");
    ASSERT_TRUE(load.problems.empty()) << load.problems[0].message;
    ASSERT_EQ(load.instances.size(), 2u);
    const auto& a = load.instances[0].config;
    EXPECT_EQ(a.plugin, "redis");
    EXPECT_EQ(a.index, 0u);
    EXPECT_EQ(a.tags, (std::vector<std::string>{"env:test", "team:db"}));
    EXPECT_EQ(a.min_collection_interval, 30);
    EXPECT_EQ(a.timeout_seconds, 2);  // from init_config
    EXPECT_EQ(string_key(a, "host"), "127.0.0.1");
    const auto& b = load.instances[1].config;
    EXPECT_EQ(b.timeout_seconds, 0.5);
    EXPECT_EQ(b.min_collection_interval, 0);  // the agent interval
    EXPECT_EQ(b.tags, (std::vector<std::string>{"service:cache"}));
    EXPECT_EQ(string_key(b, "host", "localhost"), "localhost");
    EXPECT_NE(load.instances[1].check, nullptr);
}

TEST(Confd, UnknownKeyIsOneErrorWithFileAndLineAndTheOtherInstancesLoad) {
    auto load = load_confd_text(
        "instances:\n"
        "  - host: a\n"
        "  - host: b\n"
        "    pasword: secret\n",
        "/etc/tracer/conf.d/redis.yaml", "redis");
    ASSERT_EQ(load.problems.size(), 1u);
    const auto& msg = load.problems[0].message;
    EXPECT_NE(msg.find("/etc/tracer/conf.d/redis.yaml:4:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unknown key 'pasword'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("password_env"), std::string::npos) << msg;  // the known keys are listed
    EXPECT_EQ(msg.find("secret"), std::string::npos) << msg;
    ASSERT_EQ(load.instances.size(), 1u);
    EXPECT_EQ(string_key(load.instances[0].config, "host"), "a");
}

TEST(Confd, YamlSyntaxErrorNamesFileLineAndColumn) {
    auto load = load_confd_text("instances:\n  - host: [a\n  port: 1\n", "x/redis.yaml", "redis");
    ASSERT_EQ(load.problems.size(), 1u);
    EXPECT_EQ(load.problems[0].message.rfind("x/redis.yaml:", 0), 0u) << load.problems[0].message;
    EXPECT_NE(load.problems[0].message.find("invalid YAML"), std::string::npos);
    EXPECT_TRUE(load.instances.empty());
}

TEST(Confd, UnknownPluginNamesTheFileAndTheKnownPlugins) {
    auto load = load_confd_text("instances: [{}]\n", "conf.d/reddis.yaml", "reddis");
    ASSERT_EQ(load.problems.size(), 1u);
    EXPECT_NE(load.problems[0].message.find("conf.d/reddis.yaml: unknown plugin 'reddis'"), std::string::npos)
        << load.problems[0].message;
    EXPECT_NE(load.problems[0].message.find("redis"), std::string::npos);
}

TEST(Confd, WrongValuesAreErrorsNamingTheKey) {
    auto load = load_confd_text("instances:\n  - port: seventy\n  - timeout: -1\n  - tags: env:x\n", "f.yaml", "redis");
    ASSERT_EQ(load.problems.size(), 3u);
    EXPECT_NE(load.problems[0].message.find("f.yaml:2: redis instance 0: 'port' must be a number"), std::string::npos)
        << load.problems[0].message;
    EXPECT_NE(load.problems[1].message.find("'timeout'"), std::string::npos) << load.problems[1].message;
    EXPECT_NE(load.problems[2].message.find("'tags' must be a list"), std::string::npos) << load.problems[2].message;
}

TEST(Confd, MissingInstancesAndUnknownTopLevelKeys) {
    EXPECT_NE(load_confd_text("init_config:\n", "a.yaml", "redis").problems.at(0).message.find("no 'instances:'"),
              std::string::npos);
    EXPECT_NE(load_confd_text("instance:\n  - {}\n", "a.yaml", "redis").problems.at(0).message.find(
                  "a.yaml:1: unknown top-level key 'instance'"),
              std::string::npos);
}

TEST(Confd, SecretsFromYamlEnvironmentOrFileAndNeverInMessages) {
    setenv("TRACER_TEST_REDIS_PW", "from-env", 1);
    auto dir = std::filesystem::temp_directory_path() / ("tracer-confd-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "pw") << "from-file\n";
    auto load = load_confd_text("instances:\n"
                                "  - password: inline\n"
                                "  - password_env: TRACER_TEST_REDIS_PW\n"
                                "  - password_file: " + (dir / "pw").string() + "\n"
                                "  - password_env: TRACER_TEST_UNSET_VARIABLE\n"
                                "  - password: a\n    password_file: /nonexistent\n",
                                "redis.yaml", "redis");
    ASSERT_EQ(load.instances.size(), 3u);
    EXPECT_EQ(secret_key(load.instances[0].config), "inline");
    EXPECT_EQ(secret_key(load.instances[1].config), "from-env");
    EXPECT_EQ(secret_key(load.instances[2].config), "from-file");
    ASSERT_EQ(load.problems.size(), 2u);
    EXPECT_NE(load.problems[0].message.find("TRACER_TEST_UNSET_VARIABLE is not set"), std::string::npos);
    EXPECT_NE(load.problems[1].message.find("set only one of"), std::string::npos);
    for (const auto& p : load.problems) EXPECT_EQ(p.message.find("inline"), std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST(Confd, DirectoryLoadsNameYamlAndNameDotDAndSkipsExamples) {
    auto dir = std::filesystem::temp_directory_path() / ("tracer-confd-dir-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir / "redis.d");
    std::ofstream(dir / "redis.yaml") << "instances:\n  - port: 1\n";
    std::ofstream(dir / "redis.d" / "more.yaml") << "instances:\n  - port: 2\n";
    std::ofstream(dir / "nginx.yaml.example") << "not: loaded\n";
    std::ofstream(dir / "bogus.yaml") << "instances: []\n";
    ConfdOptions options;
    options.dir = dir.string();
    auto load = load_confd(options);
    EXPECT_EQ(load.instances.size(), 2u);
    ASSERT_EQ(load.problems.size(), 1u);
    EXPECT_NE(load.problems[0].message.find("bogus.yaml: unknown plugin 'bogus'"), std::string::npos);
    options.only_plugin = "nginx";
    EXPECT_TRUE(load_confd(options).instances.empty());
    std::filesystem::remove_all(dir);
}

TEST(Confd, EveryShippedExampleLoads) {
    std::filesystem::path root = TRACER_SOURCE_DIR "/collectors";
    size_t examples = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        std::string name = entry.path().filename().string();
        if (!name.ends_with(".yaml.example")) continue;
        ++examples;
        std::ifstream in(entry.path());
        std::string text((std::istreambuf_iterator<char>(in)), {});
        std::string plugin = name.substr(0, name.size() - std::string(".yaml.example").size());
        auto load = load_confd_text(text, entry.path().string(), plugin);
        EXPECT_TRUE(load.problems.empty()) << load.problems[0].message;
        EXPECT_FALSE(load.instances.empty()) << entry.path();
    }
    EXPECT_GE(examples, 5u);
}

}  // namespace
}  // namespace tracer::collectors
