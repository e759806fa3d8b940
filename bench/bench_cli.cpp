#include "bench_cli.h"

#include "bench_support.h"

#include <cerrno>
#include <cstdio>

namespace bench {

void add_tracer_option(CLI::App& app, std::string& tracer) {
    app.add_option("--tracer", tracer, "the tracer binary")->capture_default_str()->check(CLI::ExistingFile);
}

void add_baseline_tracer_option(CLI::App& app, std::string& tracer) {
    app.add_option("--baseline-tracer", tracer,
                   "another tracer build, measured in the same interleaved rounds as --tracer ('baseline tracer' "
                   "rows): before/after in one run")
        ->check(CLI::ExistingFile);
}

void add_attach_timeout_option(CLI::App& app, int& seconds) {
    app.add_option("--attach-timeout", seconds, "seconds an agent or tool may take to attach")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
}

cpu_set_t cpu_set_of(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return s;
}

Pinning pin_measuring_thread(int cpu) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) throw FatalError("sched_getaffinity: " + errno_text(errno));
    if (cpu < 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &allowed)) cpu = c;
    if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed))
        throw FatalError("CPU " + std::to_string(cpu) + " is not available to this process");
    Pinning p;
    p.cpu = cpu;
    cpu_set_t others = allowed;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) > 0) p.others = others;
    const cpu_set_t mine = cpu_set_of(cpu);
    if (::sched_setaffinity(0, sizeof mine, &mine) != 0)
        throw FatalError("sched_setaffinity(CPU " + std::to_string(cpu) + "): " + errno_text(errno));
    return p;
}

int bench_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    install_stop_handlers();
    const std::string name = app.get_name();
    try {
        return body();
    } catch (const Interrupted&) {
        std::fprintf(stderr, "\n%s: interrupted; everything stopped and detached\n", name.c_str());
        return 130;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\n%s: %s\n", name.c_str(), e.what());
        return 1;
    }
}

}  // namespace bench
