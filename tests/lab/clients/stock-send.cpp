// A stock qpid-proton C++ sender for the lab's client-visible outage
// (Debian's libqpid-proton-cpp12-dev; lab.sh deps builds it as
// $BIN/stock-send-cpp).
//
// It uses only proton's own reconnect (connection_options().reconnect(...)),
// which re-opens the connection and its links after a lost connection or a
// close with amqp:connection:forced. No retry logic of its own: it sends one
// message every 20 ms while the link has credit (at most 10 unconfirmed)
// and prints, for each message the broker accepted, a line
// "accepted UNIX_NS", which qpidlab-run reads.
//
//   stock-send-cpp ADDR[,ADDR...] QUEUE IDLE_MS [DELAY_MS MAX_DELAY_MS]
//
// The first address is the connection's URL, the others its failover_urls.
// Without DELAY_MS, reconnect_options() as they come (10 ms doubling, no
// maximum).

#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/message.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/reconnect_options.hpp>
#include <proton/sender.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/work_queue.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double now_s() { return now_ns() / 1e9; }

class stock_sender : public proton::messaging_handler {
  public:
    stock_sender(std::vector<std::string> addrs, std::string queue, int idle_ms, int delay_ms, int max_delay_ms)
        : addrs_(addrs), queue_(queue), idle_ms_(idle_ms), delay_ms_(delay_ms), max_delay_ms_(max_delay_ms) {}

    void on_container_start(proton::container &c) override {
        proton::reconnect_options ro;
        if (delay_ms_ > 0) {
            ro.delay(proton::duration(delay_ms_)).delay_multiplier(2).max_delay(proton::duration(max_delay_ms_));
        }
        proton::connection_options co;
        co.reconnect(ro).idle_timeout(proton::duration(idle_ms_));
        if (addrs_.size() > 1) {
            co.failover_urls(std::vector<std::string>(addrs_.begin() + 1, addrs_.end()));
        }
        proton::connection conn = c.connect(addrs_[0], co);
        sender_ = conn.open_sender(queue_);
        container_ = &c;
        c.schedule(proton::duration(20), [this]() { tick(); });
    }

    void tick() {
        if (sender_.active() && sender_.connection().active() && sender_.credit() > 0 && unconfirmed_ < 10) {
            std::ostringstream body;
            body << "stock " << ++seq_;
            sender_.send(proton::message(body.str()));
            unconfirmed_++;
        }
        container_->schedule(proton::duration(20), [this]() { tick(); });
    }

    void on_tracker_accept(proton::tracker &) override {
        if (unconfirmed_ > 0) unconfirmed_--;
        std::printf("accepted %lld\n", now_ns());
        std::fflush(stdout);
    }
    void on_tracker_reject(proton::tracker &) override {
        if (unconfirmed_ > 0) unconfirmed_--;
    }
    void on_tracker_release(proton::tracker &) override {
        if (unconfirmed_ > 0) unconfirmed_--;
    }
    void on_connection_open(proton::connection &c) override {
        std::fprintf(stderr, "%.3f connected%s\n", now_s(), c.reconnected() ? " (reconnected)" : "");
    }
    void on_transport_error(proton::transport &t) override {
        // The outcomes in flight are lost with the connection.
        unconfirmed_ = 0;
        std::fprintf(stderr, "%.3f disconnected %s\n", now_s(), t.error().what().c_str());
    }
    void on_connection_error(proton::connection &c) override {
        std::fprintf(stderr, "%.3f connection error %s\n", now_s(), c.error().what().c_str());
    }
    void on_sender_error(proton::sender &) override {}
    void on_error(const proton::error_condition &e) override {
        std::fprintf(stderr, "%.3f error %s\n", now_s(), e.what().c_str());
    }

  private:
    std::vector<std::string> addrs_;
    std::string queue_;
    int idle_ms_, delay_ms_, max_delay_ms_;
    proton::sender sender_;
    proton::container *container_ = nullptr;
    int unconfirmed_ = 0;
    long seq_ = 0;
};

} // namespace

int main(int argc, char **argv) {
    if (argc != 4 && argc != 6) {
        std::cerr << "usage: stock-send-cpp ADDR[,ADDR...] QUEUE IDLE_MS [DELAY_MS MAX_DELAY_MS]\n";
        return 2;
    }
    std::vector<std::string> addrs;
    std::istringstream in(argv[1]);
    for (std::string a; std::getline(in, a, ',');) addrs.push_back(a);
    int delay = argc == 6 ? std::atoi(argv[4]) : 0;
    int max_delay = argc == 6 ? std::atoi(argv[5]) : 0;
    stock_sender h(addrs, argv[2], std::atoi(argv[3]), delay, max_delay);
    try {
        proton::container(h).run();
    } catch (const std::exception &e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    return 0;
}
