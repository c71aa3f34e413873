"""Create an Intune PowerShell script through Multi Admin Approval: Microsoft's four steps.

Run it with the connection in the environment, e.g. against the emulator:

    MAA_GUARD_AUTH=token MAA_GUARD_ACCESS_TOKEN=... MAA_GUARD_GRAPH_ENDPOINT=http://127.0.0.1:8765 \
        python docs/examples/runbook.py

Exit 0 when the script exists in Intune; 1 when the service refused the write or the request was
rejected, cancelled or expired; 2 for bad input; 3 when the outcome is unknown or no decision came
within the hour (the code stays in the state file: continue with ``maa-guard requests wait CODE``
and ``maa-guard requests complete CODE``).
"""

from __future__ import annotations

import sys

from maa_guard import approval

SCRIPT = {
    "@odata.type": "#microsoft.graph.deviceManagementScript",
    "displayName": "My Test Script",
    "description": "Testing MAA with app-only token",
    "scriptContent": "V3JpdGUtT3V0cHV0ICJIZWxsbyBXb3JsZCI=",
    "runAsAccount": "system",
    "fileName": "TestScript.ps1",
    "roleScopeTagIds": ["0"],
}


def main() -> int:
    try:
        return run()
    except approval.MaaGuardError as error:  # refused (1), bad input (2), outcome unknown (3)
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code


def run() -> int:
    write = approval.WriteRequest("POST", "/deviceManagement/deviceManagementScripts", SCRIPT)

    # Step 1: send the write with x-msft-approval-justification (base64 of the text).
    outcome = approval.submit(write, "CHG-1234: deploy the test script", label="test script")
    if isinstance(outcome, approval.Completed):
        # Applied at once: the target is not protected, or this application is excluded.
        print(f"no approval happened: {outcome.message}")
        return 0

    # Step 2: MAA filed an approval request; its code is already saved in the state file.
    print(f"approval request {outcome.code} filed; waiting for a second administrator")

    # Step 3: wait until another administrator approves it in the Intune admin center.
    state = approval.wait(outcome.code, timeout=3600)
    if state.status is approval.RequestStatus.NEEDS_APPROVAL:
        print(f"no decision yet; continue with 'maa-guard requests wait {outcome.code}'")
        return 3
    if state.status is not approval.RequestStatus.APPROVED:
        print(f"request {outcome.code} was {state.status.value}; nothing was changed")
        return 1

    # Step 4: resend the identical write with x-msft-approval-code instead of the justification.
    done = approval.complete(outcome.code)
    print(done.message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
