// Server-side pass: the visualizer's own parser, and its own components rendered with react-dom/server.
// Bundled by build.mjs; `@/` is the upstream src/ (unchanged).
import type { ReactElement, ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { parseLogFile, extractContextVariable } from '@/lib/parse-logs';
import { extractFinalAnswer, type RLMLogFile } from '@/lib/types';
import { LogViewer } from '@/components/LogViewer';
import { IterationTimeline } from '@/components/IterationTimeline';
import { TrajectoryPanel } from '@/components/TrajectoryPanel';
import { ExecutionPanel } from '@/components/ExecutionPanel';
import { CodeBlock } from '@/components/CodeBlock';
import { ThemeProvider } from '@/components/ThemeProvider';
import { TooltipProvider } from '@/components/ui/tooltip';

// The providers app/layout.tsx wraps every page in.
function Layout({ children }: { children: ReactNode }) {
  return (
    <ThemeProvider attribute="class" defaultTheme="dark" enableSystem disableTransitionOnChange>
      <TooltipProvider>{children}</TooltipProvider>
    </ThemeProvider>
  );
}

export { renderToString, extractFinalAnswer };

// What Dashboard does with a file (handleFileLoaded, and the demo-list preview).
export function parse(fileName: string, content: string) {
  const log = parseLogFile(fileName, content);
  const contextVariable = extractContextVariable(log.iterations);
  return { log, contextVariable };
}

const noop = () => {};

// The views a user reaches for a parsed log, each as [label, element]. LogViewer shows the first
// iteration; a user steps to each other one, which re-renders TrajectoryPanel and ExecutionPanel with
// that iteration (the timeline always shows all of them). ExecutionPanel's "Sub-LM Calls" tab is
// rendered server-side only as far as ExecutionPanel builds its elements (Radix mounts only the active
// tab): the client pass opens it.
export function views(log: RLMLogFile): Array<[string, ReactElement]> {
  const v: Array<[string, ReactElement]> = [['LogViewer', <Layout><LogViewer logFile={log} onBack={noop} /></Layout>]];
  log.iterations.forEach((iteration, i) => {
    const n = `iteration ${i + 1} of ${log.iterations.length}`;
    v.push([`IterationTimeline (${n} selected)`, <IterationTimeline iterations={log.iterations} selectedIteration={i} onSelectIteration={noop} />]);
    v.push([`TrajectoryPanel (${n})`, <TrajectoryPanel iterations={log.iterations} selectedIteration={i} onSelectIteration={noop} />]);
    v.push([`ExecutionPanel (${n})`, <ExecutionPanel iteration={iteration} />]);
    (iteration.code_blocks ?? []).forEach((block, j) => {
      v.push([`CodeBlock #${j + 1} (${n})`, <CodeBlock block={block} index={j} />]);
    });
  });
  return v;
}
