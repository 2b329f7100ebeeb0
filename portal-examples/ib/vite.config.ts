import { portalConfig } from "../vite.base";
// Referral links (`IbManagedLink.referralUrl`) are on the origin the API was reached through: this one, so
// `/r/<code>` is proxied to the API too (it counts the click and redirects to the registration page).
export default portalConfig(Number(process.env.PORT ?? 5174), ["/r/"]);
