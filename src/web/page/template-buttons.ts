/**
 * The start buttons: one per template the server was given (the terminal UI's templates), each a
 * POST of its key; the page can start nothing else.
 */
import { byId } from './dom.js';
import type { ShowStatus } from './header.js';
import type { WireTask } from './model.js';
import { postJson } from './post-json.js';

interface TemplateInfo {
  key: number;
  name: string;
  description?: string;
}

export async function showTemplateButtons(status: ShowStatus): Promise<void> {
  const nav = byId('templates');
  try {
    const response = await fetch('/api/templates');
    const { templates } = (await response.json()) as { templates: TemplateInfo[] };
    for (const template of templates) nav.append(templateButton(template, status));
  } catch (error) {
    status(`Could not load the templates: ${String(error)}`, 'error');
  }
}

function templateButton(template: TemplateInfo, status: ShowStatus): HTMLButtonElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'template';
  button.dataset.template = String(template.key);
  button.textContent = `${template.key} · ${template.name}`;
  if (template.description) button.title = template.description;
  button.addEventListener('click', () => void startTemplate(template, status));
  return button;
}

async function startTemplate({ key, name }: TemplateInfo, status: ShowStatus): Promise<void> {
  try {
    const reply = await postJson('/api/start', { template: key });
    const task = reply.task as WireTask;
    status(`Started task ${task.id} (${name})`, 'info');
  } catch (error) {
    status(`Could not start "${name}": ${(error as Error).message}`, 'error');
  }
}
