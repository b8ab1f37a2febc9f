// Node's module compile cache (V8's code cache on disk: under the system's temporary directory, or where
// NODE_COMPILE_CACHE says). The engine's main thread and each of its worker threads load the module graph
// (1-2 s of CPU a thread, cold); with the cache a second start compiles almost nothing. Turned on in this
// process and handed down to the worker threads and child processes it starts, through NODE_COMPILE_CACHE.
// NODE_DISABLE_COMPILE_CACHE=1 turns it off; a directory that cannot be written leaves it off, quietly.
import { enableCompileCache } from 'node:module';

export function useModuleCompileCache(): void {
  if (process.env.NODE_COMPILE_CACHE !== undefined) return;
  const { directory } = enableCompileCache();
  if (directory !== undefined) process.env.NODE_COMPILE_CACHE = directory;
}
