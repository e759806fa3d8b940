// A connection a check keeps between its runs, as a monitoring client should:
// a connection per run costs the server about as much as the statistics it is
// asked for (bench_plugin_cost), and it shows in the server's own connection
// counters, which the same check reports.
//
// A kept connection can be dead by the next run (the server restarted, an
// idle timeout closed it) without the client knowing until it uses it. So a
// run's first round trip, which reports nothing yet, goes through
// first_round_trip(): when it fails on a kept connection, that connection is
// dropped, a new one opened and the round trip tried once more, and a restart
// between two runs costs no failed run. A failure on a new connection, or
// later in the run, drops the connection (the next run opens one) and goes
// to the caller as the run's error. Later round trips are not retried: the
// run has reported part of its metrics by then.
#pragma once

#include <exception>

namespace tracer::collectors {

// `conn`: a smart pointer (empty: no connection kept); `open()` returns a new
// one or throws; `first()` makes the round trip on `conn` and returns what it read.
template <class Connection, class Open, class First>
auto first_round_trip(Connection& conn, Open&& open, First&& first) {
    bool kept = static_cast<bool>(conn);
    try {
        if (!conn) conn = open();
        return first();
    } catch (const std::exception&) {
        conn.reset();
        if (!kept) throw;
    }
    try {
        conn = open();
        return first();
    } catch (const std::exception&) {
        conn.reset();
        throw;
    }
}

}  // namespace tracer::collectors
