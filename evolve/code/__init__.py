"""Code manipulation: evolvable regions, diffs, versioned-function prompts."""
