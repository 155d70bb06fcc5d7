"""Local tooling for shopmail (never shipped to Lambda): CLI, emulators, web inbox."""
