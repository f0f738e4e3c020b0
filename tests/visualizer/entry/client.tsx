// Client pass, evaluated inside a jsdom window (see harness.mjs): the visualizer's own page, driven the
// way a person uses it. Mount <Dashboard/> in the providers of app/layout.tsx, upload the log through
// FileUploader's <input type=file>, then in LogViewer step through every iteration (the → key) and open
// both tabs of ExecutionPanel ("Code Execution", "Sub-LM Calls"). Effects run (act flushes them).
// Bundled by build.mjs; `@/` is the upstream src/ (unchanged).
import { act, type ReactNode } from 'react';
import { createRoot, type ErrorInfo } from 'react-dom/client';
import { Dashboard } from '@/components/Dashboard';
import { ThemeProvider } from '@/components/ThemeProvider';
import { TooltipProvider } from '@/components/ui/tooltip';

function Layout({ children }: { children: ReactNode }) {
  return (
    <ThemeProvider attribute="class" defaultTheme="dark" enableSystem disableTransitionOnChange>
      <TooltipProvider>{children}</TooltipProvider>
    </ThemeProvider>
  );
}

type Shown = {
  file_name: string | null;
  final_answer: string | null;
  stats: Record<string, string>;
  iterations_visited: number;
  sub_lm_cards: number;
};

// The driver passes its own, which adds the upstream file and line from the source map.
let describeHook: ((e: unknown) => string) | null = null;
export function setDescribe(f: (e: unknown) => string) {
  describeHook = f;
}

function describe(e: unknown): string {
  if (describeHook) return describeHook(e);
  if (e instanceof Error || (e && typeof e === 'object' && 'message' in e)) {
    const err = e as Error;
    return `${err.name || 'Error'}: ${err.message}`;
  }
  return String(e);
}

function firstLine(s: string | null | undefined): string {
  return (s ?? '').trim().split('\n')[0] ?? '';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLog(fileName: string, content: string): Promise<{ errors: string[]; shown: Shown | null }> {
  const errors: string[] = [];
  const where = { step: 'mounting Dashboard' };
  const push = (kind: string, e: unknown, info?: ErrorInfo) => {
    const comp = firstLine(info?.componentStack).replace(/^at /, '');
    errors.push(`${where.step}: ${kind}: ${describe(e)}${comp ? ` (in ${comp})` : ''}`);
  };
  const onWindowError = (ev: ErrorEvent) => push('uncaught error', ev.error ?? ev.message);
  const onRejection = (ev: PromiseRejectionEvent) => push('unhandled rejection', ev.reason);
  window.addEventListener('error', onWindowError);
  window.addEventListener('unhandledrejection', onRejection);
  // The app's own failure path is alert(): FileUploader and Dashboard call it when loading fails.
  window.alert = (msg?: unknown) => errors.push(`${where.step}: the visualizer alerted: ${String(msg)}`);

  const container = document.createElement('div');
  document.body.appendChild(container);
  const root = createRoot(container, {
    onUncaughtError: (e, info) => push('uncaught render error', e, info),
    onCaughtError: (e, info) => push('render error caught by a boundary', e, info),
    onRecoverableError: (e, info) => push('recoverable render error', e, info),
  });
  const step = async (name: string, fn: () => void | Promise<void>) => {
    where.step = name;
    try {
      await act(async () => {
        await fn();
      });
    } catch (e) {
      push('thrown', e);
    }
  };

  let shown: Shown | null = null;
  try {
    await step('mounting Dashboard', () => {
      root.render(<Layout><Dashboard /></Layout>);
    });

    // Upload the file, as a person picking it in the file dialog.
    const input = container.querySelector<HTMLInputElement>('input[type=file]');
    if (!input) throw new Error('FileUploader has no <input type=file>');
    const file = new File([content], fileName, { type: 'application/x-ndjson' });
    Object.defineProperty(input, 'files', { configurable: true, value: [file] });
    await step('uploading the file', () => {
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
    // FileUploader awaits file.text(); wait for LogViewer (its "← Back" button) to appear.
    where.step = 'opening the log in LogViewer';
    const back = () => [...container.querySelectorAll('button')].find((b) => b.textContent?.includes('← Back'));
    for (let i = 0; i < 200 && !back() && errors.length === 0; i++) {
      await step(where.step, () => sleep(5));
    }
    if (!back()) {
      if (errors.length === 0) errors.push(`${where.step}: LogViewer did not appear (page text: ${firstLine(container.textContent).slice(0, 200)})`);
      return { errors, shown };
    }

    // LogViewer's header: file name, final answer, and the four stats cards.
    const textOf = (el: Element | null | undefined) => (el ? el.textContent ?? '' : null);
    const label = [...container.querySelectorAll('p')].find((p) => p.textContent === 'Final Answer');
    const stats: Record<string, string> = {};
    for (const p of container.querySelectorAll('p')) {
      const name = p.textContent ?? '';
      if (['Iterations', 'Code', 'Sub-LM', 'Exec'].includes(name) && p.nextElementSibling) {
        stats[name] = p.nextElementSibling.textContent ?? '';
      }
    }
    shown = {
      file_name: textOf(container.querySelector('header h1'))?.replace(/^◈/, '') ?? null,
      final_answer: textOf(label?.nextElementSibling),
      stats,
      iterations_visited: 0,
      sub_lm_cards: 0,
    };

    // Every iteration, both tabs of ExecutionPanel. After an uncaught error React has unmounted the
    // page, so the first error ends the walk.
    const total = Number(stats['Iterations'] ?? '0') || 0;
    for (let i = 0; i < total && errors.length === 0; i++) {
      if (i > 0) {
        await step(`iteration ${i + 1}: pressing →`, () => {
          window.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight' }));
        });
      }
      for (const tab of ['Sub-LM Calls', 'Code Execution']) {
        if (errors.length) break;
        const trigger = [...container.querySelectorAll('[role=tab]')].find((t) => t.textContent?.startsWith(tab));
        if (!trigger) {
          errors.push(`iteration ${i + 1}: ExecutionPanel has no "${tab}" tab`);
          continue;
        }
        await step(`iteration ${i + 1}: opening the "${tab}" tab`, () => {
          trigger.dispatchEvent(new MouseEvent('mousedown', { bubbles: true, button: 0 }));
        });
        if (tab === 'Sub-LM Calls') {
          const panel = container.querySelector('[role=tabpanel][data-state=active]');
          shown.sub_lm_cards += panel ? panel.querySelectorAll('[data-slot=card-title]').length : 0;
        }
      }
      if (errors.length === 0) shown.iterations_visited++;
    }
  } catch (e) {
    push('harness', e);
  } finally {
    await step('unmounting', () => root.unmount());
    container.remove();
    window.removeEventListener('error', onWindowError);
    window.removeEventListener('unhandledrejection', onRejection);
  }
  return { errors, shown };
}
