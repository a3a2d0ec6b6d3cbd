// A fake Dataway on 127.0.0.1 for tests: records every request and answers with the status a
// test chooses per request. Synchronization is by condition variable, never by sleeping.
#pragma once

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "profkit/common/unique_fd.h"

namespace profkit::forward::testing {

struct RecordedRequest {
  std::string target;  // path and raw query
  std::string content_type;
  std::string user_agent;
  std::vector<httplib::MultipartFormData> files;  // sorted by field name (httplib's multimap)
  std::string body;
};

// Blocks request handlers until opened.
class Gate {
 public:
  ~Gate() { Open(); }
  void Open() {
    std::call_once(opened_, [this] { promise_.set_value(); });
  }
  void Wait() const { future_.wait(); }

 private:
  std::promise<void> promise_;
  std::shared_future<void> future_ = promise_.get_future().share();
  std::once_flag opened_;
};

// A bound but not listening socket: connections to its port are refused, and the port stays
// reserved until Release().
class RefusingPort {
 public:
  RefusingPort() {
    fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), length) == 0 &&
        getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  void Release() { fd_.reset(); }
  int port() const { return port_; }

 private:
  UniqueFd fd_;
  int port_ = 0;
};

// Polls a condition that has no notification (e.g. a counter of the code under test).
template <typename Predicate>
bool WaitFor(Predicate predicate, std::chrono::seconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class FakeDataway {
 public:
  // Returns the HTTP status for the request with this 0-based index; may block on `gate`, which
  // opens at the latest when the server stops (it could not stop while a handler waits).
  using Responder = std::function<int(size_t index, const Gate& gate)>;

  explicit FakeDataway(Responder responder = [](size_t, const Gate&) { return 200; })
      : responder_(std::move(responder)) {
    server_.Post(".*", [this](const httplib::Request& request, httplib::Response& response) {
      size_t index;
      {
        std::lock_guard lock(mutex_);
        index = requests_.size();
        RecordedRequest recorded{request.target,
                                 request.get_header_value("Content-Type"),
                                 request.get_header_value("User-Agent"),
                                 {},
                                 request.body};
        for (const auto& [name, file] : request.files) recorded.files.push_back(file);
        requests_.push_back(std::move(recorded));
      }
      arrived_.notify_all();
      response.status = responder_(index, gate_);
      response.set_content(response.status == 200 ? R"({"content":{"profileID":"x"}})" : "no",
                           "application/json");
    });
  }
  ~FakeDataway() { Stop(); }

  // Listens on `port` (0: an ephemeral one) and returns it.
  int Start(int port = 0) {
    if (port == 0) {
      port = server_.bind_to_any_port("127.0.0.1");
    } else if (!server_.bind_to_port("127.0.0.1", port)) {
      port = -1;
    }
    // The socket already listens after bind: clients queue in the backlog until the loop runs.
    if (port > 0) {
      thread_ = std::thread([this] { server_.listen_after_bind(); });
      // stop() is a no-op until the loop has started, so Stop() could otherwise hang.
      while (!server_.is_running()) std::this_thread::yield();
    }
    return port;
  }
  void OpenGate() { gate_.Open(); }
  void Stop() {
    gate_.Open();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  bool WaitForRequests(size_t count, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
  }
  std::vector<RecordedRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  Responder responder_;
  Gate gate_;
  httplib::Server server_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace profkit::forward::testing
