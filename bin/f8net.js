#!/usr/bin/env node
// The f8net command: runs the compiled CLI ('npm run build' writes dist/; scripts/setup.sh runs it).
import '../dist/src/cli/entry.js';
