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

var embeddedDrive = regexp.MustCompile(`[A-Za-z]:\\`)

// resolvedWinPath maps a path of the kubelet's config file after the kubelet's loader resolved it: on
// Linux a Windows path ("C:\etc\...") is not absolute, so the loader (resolveRelativePaths) joined it to
// the config file's directory; the Windows path is the part from its drive letter on.
func resolvedWinPath(root, path string) string {
	if at := embeddedDrive.FindStringIndex(path); at != nil {
		return winPath(root, path[at[0]:])
	}
	return path
}
