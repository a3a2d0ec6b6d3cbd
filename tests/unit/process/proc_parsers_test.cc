#include "profkit/process/proc_parsers.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <optional>
#include <string>
#include <vector>

namespace profkit::process {
namespace {

using namespace std::string_literals;

TEST(ParseProcMapsTest, RealLookingLines) {
  const std::string text =
      "55d0c8a00000-55d0c8a28000 r--p 00000000 08:01 1835010                    "
      "/usr/bin/python3.11\n"
      "55d0c8a28000-55d0c8d1a000 r-xp 00028000 08:01 1835010                    "
      "/usr/bin/python3.11\n"
      "55d0ca1e5000-55d0ca3a1000 rw-p 00000000 00:00 0                          [heap]\n"
      "7f3a1c000000-7f3a1c021000 rw-p 00000000 00:00 0 \n"
      "7f3a20e00000-7f3a20e26000 r-xp 00026000 fd:02 262 /tmp/my lib/libfoo.so (deleted)\n"
      "7f3a21000000-7f3a21001000 r-xs 00000000 103:0a 99 /dev/shm/jit map\n"
      "7ffd4b5f2000-7ffd4b5f4000 r-xp 00000000 00:00 0                          [vdso]\n"
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";
  Result<std::vector<MemoryMapping>> r = ParseProcMaps(text);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 8u);
  const std::vector<MemoryMapping>& m = *r;

  EXPECT_EQ(m[1].start, 0x55d0c8a28000u);
  EXPECT_EQ(m[1].end, 0x55d0c8d1a000u);
  EXPECT_EQ(m[1].file_offset, 0x28000u);
  EXPECT_EQ(m[1].dev, makedev(8, 1));
  EXPECT_EQ(m[1].inode, 1835010u);
  EXPECT_TRUE(m[1].readable);
  EXPECT_TRUE(m[1].executable);
  EXPECT_EQ(m[1].path, "/usr/bin/python3.11");
  EXPECT_FALSE(m[1].deleted);
  EXPECT_FALSE(m[0].executable);

  EXPECT_EQ(m[2].path, "[heap]");
  EXPECT_EQ(m[3].path, "") << "anonymous";
  EXPECT_EQ(m[3].inode, 0u);

  EXPECT_EQ(m[4].path, "/tmp/my lib/libfoo.so");
  EXPECT_TRUE(m[4].deleted);
  EXPECT_EQ(m[4].dev, makedev(0xfd, 2));

  EXPECT_EQ(m[5].path, "/dev/shm/jit map");
  EXPECT_EQ(m[5].dev, makedev(0x103, 0xa));
  EXPECT_TRUE(m[5].executable);

  EXPECT_EQ(m[6].path, "[vdso]");
  EXPECT_FALSE(m[7].readable);
  EXPECT_TRUE(m[7].executable);
  EXPECT_EQ(m[7].end, 0xffffffffff601000u);
}

TEST(ParseProcMapsTest, EmptyAndNoTrailingNewline) {
  ASSERT_TRUE(ParseProcMaps("").ok());
  EXPECT_TRUE(ParseProcMaps("")->empty());
  Result<std::vector<MemoryMapping>> r = ParseProcMaps("1000-2000 r-xp 0 08:01 5 /bin/x");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].path, "/bin/x");
}

TEST(ParseProcMapsTest, MalformedLinesNameTheLine) {
  const std::string good = "1000-2000 r-xp 00000000 08:01 5 /bin/x\n";
  const auto error = [&](const std::string& bad_line) {
    Result<std::vector<MemoryMapping>> r = ParseProcMaps(good + good + bad_line + "\n" + good);
    EXPECT_FALSE(r.ok()) << bad_line;
    return r.status().message();
  };
  EXPECT_EQ(error("zzzz-2000 r-xp 00000000 08:01 5 /bin/x"),
            "line 3: bad address range \"zzzz-2000\"");
  EXPECT_EQ(error("2000-1000 r-xp 00000000 08:01 5 /bin/x"),
            "line 3: bad address range \"2000-1000\"");
  EXPECT_EQ(error("10000000000000000-10000000000000001 r-xp 0 08:01 5"),
            "line 3: bad address range \"10000000000000000-10000000000000001\"");
  EXPECT_EQ(error("1000-2000 rwx 00000000 08:01 5 /bin/x"), "line 3: bad permissions \"rwx\"");
  EXPECT_EQ(error("1000-2000 r-xq 00000000 08:01 5 /bin/x"), "line 3: bad permissions \"r-xq\"");
  EXPECT_EQ(error("1000-2000 r-xp 0000g000 08:01 5 /bin/x"), "line 3: bad offset \"0000g000\"");
  EXPECT_EQ(error("1000-2000 r-xp 00000000 0801 5 /bin/x"), "line 3: bad device \"0801\"");
  EXPECT_EQ(error("1000-2000 r-xp 00000000 08:01 -5 /bin/x"), "line 3: bad inode \"-5\"");
  EXPECT_EQ(error("1000-2000 r-xp 00000000 08:01"), "line 3: bad inode \"\"");
  EXPECT_EQ(error(""), "line 3: bad address range \"\"");
}

TEST(ParseProcMapsTest, BoundedNumberOfMappings) {
  std::string text;
  for (size_t i = 0; i <= kMaxMappings; ++i) {
    text += fmt::format("{:x}-{:x} r--p 0 00:00 0\n", 0x1000 * (i + 1), 0x1000 * (i + 2));
  }
  EXPECT_EQ(ParseProcMaps(text).status().message(),
            fmt::format("more than {} mappings", kMaxMappings));
}

TEST(ParseProcStatTest, CommWithParenthesesAndSpaces) {
  const std::string text =
      "4242 (my (weird) ) (name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 10 5 0 0 20 0 3 0 "
      "987654321 123456789 1000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  Result<ProcessStat> r = ParseProcStat(text);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->pid, 4242u);
  EXPECT_EQ(r->comm, "my (weird) ) (name");
  EXPECT_EQ(r->state, 'S');
  EXPECT_EQ(r->ppid, 1u);
  EXPECT_EQ(r->start_time_ticks, 987654321u);
}

TEST(ParseProcStatTest, EmptyCommAndErrors) {
  Result<ProcessStat> empty = ParseProcStat("7 () R 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55");
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_EQ(empty->comm, "");
  EXPECT_EQ(empty->start_time_ticks, 55u);

  EXPECT_EQ(ParseProcStat("").status().message(), "expected \"pid (comm) state ...\"");
  EXPECT_EQ(ParseProcStat("12 (x) S 1 2 3").status().message(),
            "only 6 fields, expected at least 22");
  EXPECT_EQ(ParseProcStat("x12 (x) S 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55").status().message(),
            "bad pid \"x12\"");
  EXPECT_EQ(ParseProcStat("12 (x) SS 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55").status().message(),
            "bad state \"SS\"");
  EXPECT_EQ(ParseProcStat("12 (x) S -1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55").status().message(),
            "bad ppid \"-1\"");
  EXPECT_EQ(ParseProcStat("12 (x) S 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5x").status().message(),
            "bad starttime \"5x\"");
}

TEST(ParseServiceEnvironmentTest, KeepsOnlyTheFourVariables) {
  const std::string blob = "PATH=/usr/bin\0AWS_SECRET_ACCESS_KEY=hunter2\0DD_SERVICE=checkout\0"
                           "OTEL_SERVICE_NAME=otel-checkout\0DD_ENV=prod\0DD_VERSION=1.2.3\0"
                           "DD_SERVICE=second\0DD_SERVICE_X=no\0XDD_ENV=no\0DD_API_KEY=secret\0"s;
  const ServiceEnvironment env = ParseServiceEnvironment(blob);
  EXPECT_EQ(env.dd_service, "checkout") << "first occurrence wins, as with getenv";
  EXPECT_EQ(env.otel_service_name, "otel-checkout");
  EXPECT_EQ(env.dd_env, "prod");
  EXPECT_EQ(env.dd_version, "1.2.3");

  // Nothing but the four values is stored anywhere in the result.
  static_assert(sizeof(ServiceEnvironment) == 4 * sizeof(std::optional<std::string>));
  for (const std::optional<std::string>* v :
       {&env.dd_service, &env.otel_service_name, &env.dd_env, &env.dd_version}) {
    EXPECT_EQ(v->value().find("hunter2"), std::string::npos);
    EXPECT_EQ(v->value().find("secret"), std::string::npos);
  }
}

TEST(ParseServiceEnvironmentTest, MissingEmptyAndUnterminated) {
  const ServiceEnvironment none = ParseServiceEnvironment("HOME=/root\0"s);
  EXPECT_FALSE(none.dd_service.has_value());
  EXPECT_FALSE(none.otel_service_name.has_value());
  EXPECT_FALSE(none.dd_env.has_value());
  EXPECT_FALSE(none.dd_version.has_value());

  const ServiceEnvironment env = ParseServiceEnvironment("DD_ENV=\0DD_SERVICE=api"s);
  EXPECT_EQ(env.dd_env, "");
  EXPECT_EQ(env.dd_service, "api");
  EXPECT_FALSE(ParseServiceEnvironment("").dd_service.has_value());
}

TEST(ResolveServiceIdentityTest, Precedence) {
  ServiceEnvironment env;
  EXPECT_EQ(ResolveServiceIdentity(env, "python3", "").service, "python3");
  env.otel_service_name = "otel";
  EXPECT_EQ(ResolveServiceIdentity(env, "python3", "").service, "otel");
  env.dd_service = "dd";
  EXPECT_EQ(ResolveServiceIdentity(env, "python3", "").service, "dd");
  env.dd_service = "  ";
  EXPECT_EQ(ResolveServiceIdentity(env, "python3", "").service, "otel")
      << "blank DD_SERVICE counts as unset";
  env.otel_service_name = "";
  EXPECT_EQ(ResolveServiceIdentity(env, "python3", "").service, "python3");
  EXPECT_EQ(ResolveServiceIdentity(env, "", "").service, kUnknownService);

  EXPECT_EQ(ResolveServiceIdentity(env, "x", "staging").env, "staging");
  env.dd_env = "prod";
  EXPECT_EQ(ResolveServiceIdentity(env, "x", "staging").env, "prod");
  env.dd_env = "";
  EXPECT_EQ(ResolveServiceIdentity(env, "x", "staging").env, "staging");
  EXPECT_EQ(ResolveServiceIdentity(env, "x", "").env, "");

  EXPECT_EQ(ResolveServiceIdentity(env, "x", "").version, "");
  env.dd_version = "1.0";
  EXPECT_EQ(ResolveServiceIdentity(env, "x", "").version, "1.0");
}

TEST(ResolveServiceIdentityTest, Sanitizes) {
  ServiceEnvironment env;
  env.dd_service = "  my,svc\tname\x01 \n";
  env.dd_version = std::string(300, 'v');
  // 199 ASCII bytes then a 2-byte character across the 200-byte limit: cut before it.
  env.dd_env = std::string(199, 'e') + "\u00e9" + "tail";
  const ServiceIdentity id = ResolveServiceIdentity(env, "exe", " dev ");
  EXPECT_EQ(id.service, "my_svc_name_");
  EXPECT_EQ(id.version, std::string(kMaxTagBytes, 'v'));
  EXPECT_EQ(id.env, std::string(199, 'e'));
  EXPECT_EQ(ResolveServiceIdentity({}, "a,b", " dev ").service, "a_b");
  EXPECT_EQ(ResolveServiceIdentity({}, "a", " dev ").env, "dev");
}

TEST(SplitNulSeparatedTest, CommandLineBlobs) {
  using V = std::vector<std::string>;
  EXPECT_EQ(SplitNulSeparated("python3\0-u\0app.py\0"s), (V{"python3", "-u", "app.py"}));
  EXPECT_EQ(SplitNulSeparated("python3\0app.py"s), (V{"python3", "app.py"}));  // no final NUL
  EXPECT_EQ(SplitNulSeparated(""), V{});
  EXPECT_EQ(SplitNulSeparated("\0"s), V{""});
  EXPECT_EQ(SplitNulSeparated("a\0\0b\0"s), (V{"a", "", "b"}));
  EXPECT_EQ(SplitNulSeparated("one arg with spaces"), V{"one arg with spaces"});
}

std::optional<std::string> Script(std::vector<std::string> argv) { return PythonScriptName(argv); }

TEST(PythonScriptNameTest, ScriptPath) {
  EXPECT_EQ(Script({"/usr/bin/python3", "/srv/app.py"}), "app");
  EXPECT_EQ(Script({"python3.11", "manage.py", "runserver"}), "manage");
  EXPECT_EQ(Script({"/root/.pyenv/versions/3.12.1/bin/python", "worker"}), "worker");
  // A shebang script: the kernel runs `python3 /usr/bin/gunicorn app:app`.
  EXPECT_EQ(Script({"/usr/bin/python3", "/usr/bin/gunicorn", "app:app"}), "gunicorn");
  // Only the final ".py" goes.
  EXPECT_EQ(Script({"python3", "tool.py.py"}), "tool.py");
  EXPECT_EQ(Script({"python3", "app.pyc"}), "app.pyc");
  EXPECT_EQ(Script({"python3", ".py"}), std::nullopt);
}

TEST(PythonScriptNameTest, OptionsBeforeTheScript) {
  EXPECT_EQ(Script({"python3", "-u", "/srv/app.py"}), "app");
  EXPECT_EQ(Script({"python3", "-uB", "/srv/app.py"}), "app");
  EXPECT_EQ(Script({"python3", "-E", "-s", "-OO", "app.py"}), "app");
  EXPECT_EQ(Script({"python3", "-X", "importtime", "app.py"}), "app");
  EXPECT_EQ(Script({"python3", "-Xdev", "app.py"}), "app");
  EXPECT_EQ(Script({"python3", "-W", "ignore::DeprecationWarning", "app.py"}), "app");
  EXPECT_EQ(Script({"python3", "-Werror", "-X", "dev", "app.py"}), "app");
  // A bundle ending with an option that takes a value takes the next argument.
  EXPECT_EQ(Script({"python3", "-uX", "utf8", "app.py"}), "app");
  EXPECT_EQ(Script({"python3", "--version"}), std::nullopt);
}

TEST(PythonScriptNameTest, Modules) {
  EXPECT_EQ(Script({"python3", "-m", "http.server", "8000"}), "http.server");
  EXPECT_EQ(Script({"python3", "-mhttp.server"}), "http.server");
  EXPECT_EQ(Script({"python3", "-u", "-m", "celery", "-A", "proj", "worker"}), "celery");
  EXPECT_EQ(Script({"python3", "-um", "uvicorn"}), "uvicorn");
  EXPECT_EQ(Script({"python3", "-m"}), std::nullopt);
  EXPECT_EQ(Script({"python3", "-m", " "}), std::nullopt);
}

TEST(PythonScriptNameTest, NoScript) {
  EXPECT_EQ(Script({}), std::nullopt);
  EXPECT_EQ(Script({"python3"}), std::nullopt);  // interactive
  EXPECT_EQ(Script({"python3", "-c", "import app; app.main()"}), std::nullopt);
  EXPECT_EQ(Script({"python3", "-c"}), std::nullopt);
  EXPECT_EQ(Script({"python3", "-uc", "print(1)", "x.py"}), std::nullopt);
  EXPECT_EQ(Script({"python3", "-"}), std::nullopt);  // stdin
  EXPECT_EQ(Script({"python3", "-", "arg.py"}), std::nullopt);
  EXPECT_EQ(Script({"python3", ""}), std::nullopt);
  EXPECT_EQ(Script({"python3", "-X"}), std::nullopt);
  EXPECT_EQ(Script({"python3", "-W"}), std::nullopt);
}

TEST(PythonScriptNameTest, DoubleDashEndsOptions) {
  EXPECT_EQ(Script({"python3", "--", "app.py"}), "app");
  EXPECT_EQ(Script({"python3", "-u", "--", "-weird.py"}), "-weird");
  EXPECT_EQ(Script({"python3", "--"}), std::nullopt);
}

TEST(PythonScriptNameTest, NotPython) {
  EXPECT_EQ(Script({"/usr/bin/ruby", "app.py"}), std::nullopt);
  EXPECT_EQ(Script({"gunicorn", "app:app"}), std::nullopt);
  EXPECT_EQ(Script({"/opt/python3/bin/uwsgi", "app.py"}), std::nullopt);
  EXPECT_EQ(Script({"", "app.py"}), std::nullopt);
}

// `--check-hash-based-pycs` (3.7+) is the one long option that takes a value.
TEST(PythonScriptNameTest, LongOptionWithAValue) {
  EXPECT_EQ(Script({"python3", "--check-hash-based-pycs", "always", "app.py"}), "app");
}

TEST(ExecutableNameTest, BasenameElseComm) {
  EXPECT_EQ(ExecutableName("/usr/bin/python3.11", "python3"), "python3.11");
  EXPECT_EQ(ExecutableName("server", "srv"), "server");
  EXPECT_EQ(ExecutableName("", "kworker/0:1"), "kworker/0:1");
  EXPECT_EQ(ExecutableName("/weird/", "comm"), "comm");
}

}  // namespace
}  // namespace profkit::process
