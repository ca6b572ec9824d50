package main

import (
	"path/filepath"
	"regexp"
	"strings"
)

var drive = regexp.MustCompile(`^[A-Za-z]:`)

// winPath maps a Windows path of the emulated host into the directory holding its C: drive: the drive
// letter is dropped, backslashes become slashes and the path is lower-cased (NTFS is case-insensitive; the
// Python side writes files with the same rule, tests/lab/real/winnode.py windows_path). A path without a
// drive letter is returned unchanged (already a path of this machine).
func winPath(root, path string) string {
	if !drive.MatchString(path) {
		return path
	}
	rest := strings.ToLower(strings.ReplaceAll(path[2:], `\`, "/"))
	return filepath.Join(root, filepath.FromSlash(rest))
}
