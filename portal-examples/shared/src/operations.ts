// The operations every portal's session needs: sign-in (with 2FA), refresh, step-up, sign-out, who am I.
import { graphql } from "./gql";


export const MeQuery = graphql(`
  query SharedMe {
    me { id email displayName isClient isIb isStaff twoFactorEnabled emailVerified permissions roles }
  }
`);

export const LoginMutation = graphql(`
  mutation SharedLogin($input: LoginInput!) {
    login(input: $input) {
      expiresIn
      viewer { id email displayName isClient isIb isStaff twoFactorEnabled emailVerified permissions roles }
      errors { field message code retryAfterSeconds }
    }
  }
`);

export const RefreshMutation = graphql(`
  mutation SharedRefresh {
    refreshToken {
      expiresIn
      errors { field message code }
    }
  }
`);

export const LogoutMutation = graphql(`
  mutation SharedLogout {
    logout { ok errors { field message code } }
  }
`);

export const StepUpMutation = graphql(`
  mutation SharedStepUp($code: String!) {
    stepUp(code: $code) { ok errors { field message code retryAfterSeconds } }
  }
`);

export const StartTotpMutation = graphql(`
  mutation SharedStartTotp {
    startTotpEnrollment { secret provisioningUri errors { field message code } }
  }
`);

export const ConfirmTotpMutation = graphql(`
  mutation SharedConfirmTotp($code: String!) {
    confirmTotpEnrollment(code: $code) { recoveryCodes errors { field message code } }
  }
`);

export const DisableTotpMutation = graphql(`
  mutation SharedDisableTotp {
    disableTotp { ok errors { field message code } }
  }
`);
