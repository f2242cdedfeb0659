// @ts-check
// Slash commands typed in the message box: /purr, /kick, /exit, /stop and /help, as in the original app.

export const HELP = Object.freeze([
  ['/purr alias message', 'whisper a message to one member only'],
  ['/kick alias', 'remove a member from the room (asks first)'],
  ['/exit [farewell]', 'say goodbye and leave (asks first)'],
  ['/stop', 'purge the room for everyone (asks first)'],
  ['/help', 'show this list'],
]);

/**
 * Parses the composer's text into a command, or null when it is an ordinary message.
 * @param {string} text
 * @returns {null | {name: string, alias?: string, text?: string, error?: string}}
 */
export function parseCommand(text) {
  const trimmed = text.trim();
  if (!trimmed.startsWith('/')) return null;
  const match = /^\/(\w+)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!match) return null;
  const name = match[1].toLowerCase();
  const rest = (match[2] ?? '').trim();
  switch (name) {
    case 'purr': {
      const parts = /^(\S+)\s+([\s\S]+)$/.exec(rest);
      if (!parts) return { name, error: 'Usage: /purr alias message' };
      return { name, alias: parts[1], text: parts[2] };
    }
    case 'kick':
      if (!rest || /\s/.test(rest)) return { name, error: 'Usage: /kick alias' };
      return { name, alias: rest };
    case 'exit':
      return { name, text: rest };
    case 'stop':
    case 'help':
      return { name };
    default:
      return { name: 'unknown', text: `/${name}` };
  }
}
