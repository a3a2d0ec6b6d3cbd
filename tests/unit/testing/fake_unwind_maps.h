// UnwindMaps without BPF: the arrays the walker would read, in vectors, written and read back as
// BpfSampler does, with the walker's lookup (Rule) to check what a table store wrote.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "profkit/unwind/unwind_maps.h"

namespace profkit::testing {

class FakeUnwindMaps final : public unwind::UnwindMaps {
 public:
  FakeUnwindMaps(size_t rows, size_t pages) : rows_(rows), pages_(pages) {}
  size_t row_capacity() const override { return rows_.size(); }
  size_t page_capacity() const override { return pages_.size(); }
  Status WriteRows(uint32_t first_row, std::span<const profkit_unwind_row> rows) override {
    EXPECT_EQ(first_row % 2, 0u) << "rows are placed in whole pairs";
    EXPECT_EQ(rows.size() % 2, 0u);
    return Write(rows_, first_row, rows);
  }
  Status WritePages(uint32_t first_page, std::span<const profkit_unwind_page> pages) override {
    return Write(pages_, first_page, pages);
  }
  Status WriteInfos(uint32_t first_info, std::span<const profkit_unwind_info> infos) override {
    std::lock_guard lock(mutex_);
    EXPECT_EQ(first_info, infos_.size()) << "rules are appended, without holes";
    infos_.insert(infos_.end(), infos.begin(), infos.end());
    return Status::Ok();
  }
  Status ReadRows(uint32_t first_row, std::span<profkit_unwind_row> out) const override {
    return Read(rows_, first_row, out);
  }
  Status ReadPages(uint32_t first_page, std::span<profkit_unwind_page> out) const override {
    return Read(pages_, first_page, out);
  }
  Status ReadInfo(uint32_t index, profkit_unwind_info& out) const override {
    return Read(infos_, index, std::span(&out, 1));
  }
  Status SetProcess(uint32_t pid, const profkit_unwind_process& process) override {
    std::lock_guard lock(mutex_);
    processes_[pid] = process;
    return Status::Ok();
  }
  void RemoveProcess(uint32_t pid) override {
    std::lock_guard lock(mutex_);
    processes_.erase(pid);
  }
  std::optional<profkit_unwind_process> Process(uint32_t pid) {
    std::lock_guard lock(mutex_);
    auto it = processes_.find(pid);
    if (it == processes_.end()) return std::nullopt;
    return it->second;
  }
  // The rule the BPF walker finds for file address `file_pc` of mapping `m`, through the maps'
  // contents (bpf/native_unwinder.bpf.h, unwind_find_info).
  std::optional<profkit_unwind_info> Rule(const profkit_unwind_mapping& m, uint64_t file_pc) {
    std::lock_guard lock(mutex_);
    const uint64_t page_number = file_pc >> PROFKIT_UNWIND_PAGE_SHIFT;
    if (page_number < m.page_base || page_number - m.page_base >= m.page_count) return std::nullopt;
    const profkit_unwind_page& page = pages_.at(m.first_page + (page_number - m.page_base));
    const auto first = rows_.begin() + page.first_row;
    const auto it = std::upper_bound(
        first, first + page.row_count, file_pc & (PROFKIT_UNWIND_PAGE_SIZE - 1),
        [](uint64_t pc, const profkit_unwind_row& row) { return pc < row.pc_low; });
    if (it == first) return std::nullopt;
    return infos_.at(std::prev(it)->info);
  }

 private:
  template <typename T>
  Status Write(std::vector<T>& array, uint32_t first, std::span<const T> values) {
    std::lock_guard lock(mutex_);
    EXPECT_LE(first + values.size(), array.size());
    std::copy(values.begin(), values.end(), array.begin() + first);
    return Status::Ok();
  }
  template <typename T>
  Status Read(const std::vector<T>& array, uint32_t first, std::span<T> out) const {
    std::lock_guard lock(mutex_);
    if (first > array.size() || out.size() > array.size() - first) {
      return Status::Internalf("[{}, +{}) outside {}", first, out.size(), array.size());
    }
    std::copy_n(array.begin() + first, out.size(), out.begin());
    return Status::Ok();
  }

  mutable std::mutex mutex_;
  std::vector<profkit_unwind_row> rows_;
  std::vector<profkit_unwind_page> pages_;
  std::vector<profkit_unwind_info> infos_;
  std::map<uint32_t, profkit_unwind_process> processes_;
};

}  // namespace profkit::testing
