// The door's fan-out policy (agent/door.h) with fake local files and a fake Dataway queue; the
// metrics publisher is the real one, queueing its points into the fake Dataway.
#include "profkit/agent/door.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <vector>

#include "ingest/fixture.h"
#include "profkit/common/compression.h"
#include "profkit/forward/dataway_url.h"
#include "profkit/net/multipart.h"
#include "profkit/profile/pprof_builder.h"

namespace profkit::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr int64_t kStart = 1'700'000'000'000'000'000;

// A Python eBPF profile: 500 samples, 5 s of CPU over a 10 s interval.
forward::ProfileUpload PythonProfile(std::string service) {
  profile::PprofBuilder builder(
      profile::ProfileHeader{.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}},
                             .period_type = {"cpu", "nanoseconds"},
                             .period = 10'000'000});
  const uint64_t location = builder.AddLocation({.lines = {{.function_name = "work"}}});
  const uint64_t stack[] = {location};
  builder.AddSample(stack, std::vector<int64_t>{500, 5'000'000'000}, {});
  return forward::ProfileUpload{
      .service = std::move(service),
      .env = "prod",
      .host = "node-7",
      .language = "python",
      .start_unix_nanos = kStart,
      .end_unix_nanos = kStart + 10'000'000'000,
      .attachments = {
          {.name = "cpu.pprof", .data = *GzipCompress(builder.SerializeUncompressed())}}};
}

class FakeDataway {
 public:
  Status Enqueue(const forward::QueuedRequest& request) {
    std::lock_guard lock(mutex_);
    if (!next_.ok()) return next_;
    requests_.push_back(request);
    return Status::Ok();
  }
  void Fail(Status status) {
    std::lock_guard lock(mutex_);
    next_ = std::move(status);
  }
  std::vector<forward::QueuedRequest> Requests(std::string_view path) {
    std::lock_guard lock(mutex_);
    std::vector<forward::QueuedRequest> out;
    for (const forward::QueuedRequest& request : requests_) {
      if (request.path == path) out.push_back(request);
    }
    return out;
  }

 private:
  std::mutex mutex_;
  Status next_ = Status::Ok();
  std::vector<forward::QueuedRequest> requests_;
};

class DoorTest : public ::testing::Test {
 protected:
  // Outlets as the agent sets them up for the given configuration.
  std::unique_ptr<Door> Open(bool local, bool dataway, bool metrics) {
    DoorOutlets outlets;
    if (local) {
      outlets.write_local = [this](const forward::ProfileUpload& upload) {
        if (!local_error_.ok()) return local_error_;
        local_.push_back(upload.service);
        return Status::Ok();
      };
    }
    if (dataway) {
      const auto enqueue = [this](const forward::QueuedRequest& request) {
        return dataway_.Enqueue(request);
      };
      // As forward::DatawaySink::EnqueueUpload queues a profile.
      outlets.queue_upload = [this](const forward::ProfileUpload& upload) {
        forward::MultipartBody multipart = forward::BuildMultipartUpload(upload);
        return dataway_.Enqueue(forward::QueuedRequest{std::string(forward::kDatawayUploadPath),
                                                       std::move(multipart.content_type),
                                                       upload.service, std::move(multipart.body)});
      };
      outlets.queue_request = enqueue;
      if (metrics) {
        publisher_ = std::make_unique<metrics::Publisher>(
            metrics::MetricsOptions{.host = "agent-host"}, enqueue);
        outlets.metrics = publisher_.get();
      }
    }
    return std::make_unique<Door>(std::move(outlets));
  }
  std::vector<forward::QueuedRequest> Uploads() {
    return dataway_.Requests(forward::kDatawayUploadPath);
  }
  // Waits for the points measured later (pushed uploads) by letting the publisher drain.
  std::vector<forward::QueuedRequest> Points() {
    publisher_.reset();
    return dataway_.Requests(forward::kDatawayMetricPath);
  }

  std::vector<std::string> local_;  // services written
  Status local_error_ = Status::Ok();
  FakeDataway dataway_;
  std::unique_ptr<metrics::Publisher> publisher_;
};

TEST_F(DoorTest, ProfilesReachLocalFilesDatawayAndMetrics) {
  size_t delivered = 0;
  for (const Origin origin : {Origin::kEbpf, Origin::kPulled, Origin::kPyroscope}) {
    SCOPED_TRACE(static_cast<int>(origin));
    ++delivered;
    local_.clear();
    std::unique_ptr<Door> door = Open(true, true, true);
    EXPECT_TRUE(door->Deliver(origin, PythonProfile("api")).ok());
    EXPECT_THAT(local_, ElementsAre("api"));
    // Measured at delivery: the point is queued before Deliver returns.
    const std::vector<forward::QueuedRequest> points =
        dataway_.Requests(forward::kDatawayMetricPath);
    ASSERT_EQ(points.size(), delivered);
    EXPECT_EQ(points.back().body,
              "profiling_metrics,env=prod,host=node-7,language=python,service=api "
              "prof_python_cpu_cores=0.5 1700000010000000000\n");
    publisher_.reset();
  }
  const std::vector<forward::QueuedRequest> uploads = Uploads();
  ASSERT_EQ(uploads.size(), 3u);
  // The multipart DataKit expects: event.json first, then the profile byte for byte.
  Result<std::string> boundary = net::MultipartBoundary(uploads[0].content_type);
  ASSERT_TRUE(boundary.ok());
  Result<std::vector<net::Part>> parts = net::ParseMultipart(uploads[0].body, *boundary);
  ASSERT_TRUE(parts.ok()) << parts.status().message();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].filename, "event.json");
  EXPECT_THAT(std::string((*parts)[0].data), HasSubstr(R"("language":"python")"));
  EXPECT_EQ((*parts)[1].data, PythonProfile("api").attachments[0].data);
  EXPECT_EQ(uploads[0].service, "api");
}

TEST_F(DoorTest, WithoutDatawayTheLocalFileIsTheDurableCopy) {
  std::unique_ptr<Door> door = Open(true, false, false);
  EXPECT_TRUE(door->Deliver(Origin::kPulled, PythonProfile("go-demo")).ok());
  EXPECT_THAT(local_, ElementsAre("go-demo"));
  local_error_ = Status::TooLarge("writing a profile: No space left on device");
  // A Pyroscope client is answered with the local write's failure.
  EXPECT_EQ(door->Deliver(Origin::kPyroscope, PythonProfile("p")).message(),
            "writing a profile: No space left on device");
  EXPECT_THAT(Uploads(), IsEmpty());
}

TEST_F(DoorTest, DatawayRefusalIsReturnedAndSkipsMetricsButNotLocalFiles) {
  std::unique_ptr<Door> door = Open(true, true, true);
  dataway_.Fail(Status::TooLarge("disk queue: write: No space left on device"));
  for (const Origin origin : {Origin::kEbpf, Origin::kPyroscope}) {
    EXPECT_EQ(door->Deliver(origin, PythonProfile("api")).message(),
              "disk queue: write: No space left on device");
  }
  EXPECT_THAT(local_, ElementsAre("api", "api"));
  EXPECT_EQ(publisher_->counters().points + publisher_->counters().errors, 0u);
}

TEST_F(DoorTest, LocalFailureIsLoggedWhenDatawayHoldsTheDurableCopy) {
  std::unique_ptr<Door> door = Open(true, true, false);
  local_error_ = Status::PermissionDenied("writing a profile: Permission denied");
  EXPECT_TRUE(door->Deliver(Origin::kPyroscope, PythonProfile("api")).ok());
  EXPECT_EQ(Uploads().size(), 1u);
}

TEST_F(DoorTest, PushedUploadsGoToDatawayAsRewrittenAndAreMeasuredLater) {
  std::unique_ptr<Door> door = Open(true, true, true);
  {
    // The request lives only until the client has its answer.
    const std::string body = ingest::testing::FixtureBody();
    Result<std::vector<net::Part>> parts = net::ParseMultipart(body, "6f6355e8d3c54f4b");
    ASSERT_TRUE(parts.ok());
    Result<ingest::RewrittenUpload> rewritten =
        ingest::RewriteUpload(*parts, ingest::RewriteOptions{.host = "agent-host"});
    ASSERT_TRUE(rewritten.ok()) << rewritten.status().message();

    EXPECT_TRUE(door->Deliver(*rewritten).ok());
    const std::vector<forward::QueuedRequest> uploads = Uploads();
    ASSERT_EQ(uploads.size(), 1u);
    EXPECT_EQ(uploads[0].body, rewritten->multipart.body);
    EXPECT_EQ(uploads[0].content_type, rewritten->multipart.content_type);
    EXPECT_EQ(uploads[0].service, "node-demo");
    // Never written to local.dir: the client's files are no pprof file layout.
    EXPECT_THAT(local_, IsEmpty());
  }

  const std::vector<forward::QueuedRequest> points = Points();
  ASSERT_EQ(points.size(), 1u);
  EXPECT_THAT(points[0].body,
              StartsWith("profiling_metrics,env=dev,host=agent-host,language=nodejs,"
                         "service=node-demo,version=1.0 prof_nodejs_cpu_cores="));
}

TEST_F(DoorTest, RefusedPushesAreNotMeasured) {
  std::unique_ptr<Door> door = Open(false, true, true);
  const std::string body = ingest::testing::FixtureBody();
  Result<std::vector<net::Part>> parts = net::ParseMultipart(body, "6f6355e8d3c54f4b");
  ASSERT_TRUE(parts.ok());
  Result<ingest::RewrittenUpload> rewritten = ingest::RewriteUpload(*parts, {});
  ASSERT_TRUE(rewritten.ok());
  dataway_.Fail(Status::TooLarge("disk queue: the upload exceeds the capacity"));
  EXPECT_EQ(door->Deliver(*rewritten).message(), "disk queue: the upload exceeds the capacity");
  EXPECT_THAT(Points(), IsEmpty());

  std::unique_ptr<Door> local_only = Open(true, false, false);
  EXPECT_THAT(local_only->Deliver(*rewritten).message(), HasSubstr("set dataway.url"));
  EXPECT_THAT(local_, IsEmpty());
}

TEST_F(DoorTest, NoOutletsDiscardQuietly) {
  std::unique_ptr<Door> door = Open(false, false, false);
  EXPECT_TRUE(door->Deliver(Origin::kEbpf, PythonProfile("api")).ok());
  EXPECT_THAT(Uploads(), IsEmpty());
}

}  // namespace
}  // namespace profkit::agent
