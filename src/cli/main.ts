#!/usr/bin/env -S node --disable-warning=TimeoutNegativeWarning --max-semi-space-size=32
// The `joinery` command's entry point: Node's module compile cache first (src/config/compile-cache.ts),
// before anything else is loaded, then the commands (src/cli/commands.ts).
import { useModuleCompileCache } from '../config/compile-cache.ts';

useModuleCompileCache();
await import('./commands.ts');
