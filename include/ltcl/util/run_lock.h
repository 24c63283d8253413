#pragma once
// One run per folder: an exclusive lock on `<dir>/.ltcl.lock` (flock), held
// for as long as the FolderLock lives. The kernel drops it when the process
// ends in any way (kill -9 included), so a stale lock file never blocks a
// later run. A second run on the same folder fails at once with an error
// naming the folder and the pid that holds it, instead of both writing it.
#include <string>

namespace ltcl::util {

class FolderLock {
 public:
  // Creates `dir` if needed. Throws ltcl::Error when another process (or
  // another FolderLock of this one) holds the folder, or the lock file
  // cannot be created.
  explicit FolderLock(const std::string& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes the temporary files atomic_write leaves behind when a process is
// killed mid-write (`.<name>.tmp.XXXXXX` in `dir`); returns how many. Call
// it only while holding the folder's FolderLock (no writer is active then).
int remove_stale_temp_files(const std::string& dir);

}  // namespace ltcl::util
