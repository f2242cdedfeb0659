// @ts-check
// The moderation dialogs: the kick dialog with its "Remove and lock" step, and the owner's view of a finished lock.
//
// The dialogs only ask and show; the Worker decides who may kick and lock, and does both. Every sentence comes from
// strings.js, and every DOM change is textContent, as in view.js. The password for the new link passes the create
// screen's strength rule, through the same estimator Worker, when it is a new one.
import { explain, ui } from './strings.js';
import { renderShare, setFieldError } from './view.js';

/** @type {(id: string) => any} */
const $ = (id) => document.getElementById(id);

/**
 * @typedef {{score: number, acceptable: boolean, feedback: string}} Strength
 * @typedef {{
 *   alias: string,
 *   fingerprint: string,
 *   canLock: boolean,
 *   estimate: (password: string) => Promise<Strength>,
 *   kick: () => Promise<unknown>,
 *   lock: (password: string) => Promise<{link: string}>,
 * }} KickOptions
 * @typedef {{outcome: 'cancel'} | {outcome: 'kicked'} | {outcome: 'locked', link: string}} KickResult
 */

/**
 * Asks whether to kick a member, saying whether they can come back, and offers "Remove and lock" when this session
 * may lock; runs what was chosen while the dialog shows its progress, and keeps the dialog open on a refusal so that
 * the person can correct the password or cancel.
 * @param {KickOptions} options
 * @returns {Promise<KickResult>}
 */
export function askKick({ alias, fingerprint, canLock, estimate, kick, lock }) {
  const dialog = $('kick-dialog');
  const words = ui.confirmKick(alias, fingerprint, canLock);
  const step = ui.lockPassword;
  $('kick-title').textContent = words.title;
  $('kick-text').textContent = words.text;
  $('kick-lock-hint').textContent = canLock ? words.lockHint : '';
  $('kick-lock-hint').hidden = !canLock;
  $('kick-lock-title').textContent = step.title;
  $('kick-lock-text').textContent = step.text;
  $('lock-keep-label').textContent = step.keep;
  $('lock-change-label').textContent = step.change;
  $('kick-lock').hidden = true;
  $('kick-lock-button').hidden = !canLock;
  $('kick-lock-button').textContent = words.lock;
  $('kick-ok').textContent = words.ok;
  $('lock-keep').checked = true;
  for (const id of ['lock-password', 'lock-again']) {
    $(id).value = '';
    $(id).type = 'password';
    $(id).removeAttribute('aria-invalid');
  }
  showMode();
  setFieldError('kick-error', '');
  $('kick-status').textContent = '';
  setBusy(false);

  let locking = false;
  let strengthSeq = 0;
  return new Promise((resolve) => {
    /** @type {KickResult} */
    let result = { outcome: 'cancel' };
    const controller = new AbortController();
    const { signal } = controller;
    const finish = (/** @type {KickResult} */ value) => {
      result = value;
      dialog.close();
    };
    dialog.addEventListener('close', () => {
      controller.abort();
      resolve(result);
    }, { signal });
    // Escape closes the dialog, except while a kick or a lock is under way: its outcome must still be shown.
    dialog.addEventListener('cancel', (/** @type {Event} */ event) => {
      if ($('kick-ok').disabled) event.preventDefault();
    }, { signal });
    $('kick-cancel').addEventListener('click', () => dialog.close(), { signal });
    $('kick-lock-button').addEventListener('click', () => {
      locking = true;
      $('kick-lock').hidden = false;
      $('kick-lock-button').hidden = true;
      $('kick-ok').textContent = step.ok(alias);
      $('lock-password').focus();
    }, { signal });
    for (const radio of [$('lock-keep'), $('lock-change')]) radio.addEventListener('change', showMode, { signal });
    $('lock-password').addEventListener('input', async () => {
      const seq = ++strengthSeq;
      const password = $('lock-password').value;
      if (!$('lock-change').checked || !password) return;
      try {
        const verdict = await estimate(password);
        if (seq === strengthSeq) showStrength(verdict);
      } catch {
        /* The meter is advisory; the estimate runs again on submit. */
      }
    }, { signal });
    $('kick-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
      event.preventDefault();
      setFieldError('kick-error', '');
      if (!locking) {
        setBusy(true);
        try {
          await kick();
          finish({ outcome: 'kicked' });
        } catch (error) {
          setBusy(false);
          setFieldError('kick-error', ui.notKicked(explain(error.code, error.message)));
        }
        return;
      }
      const password = $('lock-password').value;
      const problem = await passwordProblem(password, estimate);
      if (problem) {
        setFieldError('kick-error', problem);
        $('lock-password').setAttribute('aria-invalid', 'true');
        $('lock-password').focus();
        return;
      }
      $('lock-password').removeAttribute('aria-invalid');
      setBusy(true);
      $('kick-status').textContent = ui.lockWorking;
      try {
        const { link } = await lock(password);
        finish({ outcome: 'locked', link });
      } catch (error) {
        setBusy(false);
        $('kick-status').textContent = '';
        setFieldError('kick-error', ui.notLocked(explain(error.code, error.message)));
      }
    }, { signal });
    dialog.showModal();
    $('kick-cancel').focus();
  });
}

/** Shows the password step for the chosen mode: the meter only for a new password. */
function showMode() {
  const change = $('lock-change').checked;
  $('lock-meter').hidden = !change;
  $('lock-strength-bar').dataset.score = '0';
  $('lock-strength-text').textContent = change ? ui.passwordHint : ui.lockPassword.keepHint;
}

/** @param {Strength} verdict */
function showStrength({ score, acceptable, feedback }) {
  $('lock-strength-bar').dataset.score = String(score);
  $('lock-strength-text').textContent = ui.strength(score, acceptable, feedback);
}

/**
 * Why the password for the new link cannot be used, or null: it must be given twice, and pass the same strength rule
 * as a room's password at creation. The page cannot tell whether a password typed as the current one is it, so the
 * rule holds for both; a current password passed it when the room was created.
 * @param {string} password
 * @param {(password: string) => Promise<Strength>} estimate
 * @returns {Promise<string | null>}
 */
async function passwordProblem(password, estimate) {
  if (!password) return ui.lockPassword.empty;
  if (password !== $('lock-again').value) return ui.lockPassword.mismatch;
  let verdict;
  try {
    verdict = await estimate(password);
  } catch (error) {
    return explain(error.code, error.message);
  }
  showStrength(verdict);
  return verdict.acceptable ? null : `${explain('weak_password')} ${verdict.feedback ?? ''}`.trim();
}

/** @param {boolean} busy */
function setBusy(busy) {
  for (const id of ['kick-ok', 'kick-lock-button', 'kick-cancel', 'lock-password', 'lock-again', 'lock-keep', 'lock-change']) {
    $(id).disabled = busy;
  }
}

/** Whether the relay took the new verifier of the lock shown last; it may answer before the dialog opens. */
let confirmed = false;

/**
 * Shows the owner the new link after a lock, with the copy button and the QR code, and says whether the old one still
 * opens the room: not once the relay took the new verifier.
 * @param {string} link
 * @param {(link: string, input: HTMLInputElement) => Promise<boolean>} onCopy
 */
export function showLocked(link, onCopy) {
  $('locked-title').textContent = ui.lockedDialog.title;
  $('locked-text').textContent = ui.lockedDialog.text;
  $('locked-status').textContent = confirmed ? ui.lockedDialog.confirmed : ui.lockedDialog.waiting;
  renderShare('share-block-locked', link, onCopy);
  $('locked-dialog').showModal();
  $('locked-done').focus();
}

/** Starts a lock: the relay has not taken its verifier yet. */
export function lockStarted() {
  confirmed = false;
}

/** The relay took the new verifier: the old link no longer opens the room. */
export function lockConfirmed() {
  confirmed = true;
  $('locked-status').textContent = ui.lockedDialog.confirmed;
}
