// Icons for controls and status marks, drawn as SVG (lucide-react) so they look the same on
// every system: emoji glyphs as icons depend on an emoji font, and render as empty boxes
// without one. Each icon is decorative (aria-hidden): the control around it carries the name.
import {
  Apple,
  ArrowDown,
  ArrowLeft,
  Ban,
  Camera,
  Cat,
  Check,
  CheckCheck,
  CircleAlert,
  Clock,
  Download,
  Ellipsis,
  Flag,
  Hand,
  Lightbulb,
  type LucideIcon,
  type LucideProps,
  Paperclip,
  Plane,
  SendHorizontal,
  Shapes,
  ShieldCheck,
  Smile,
  TriangleAlert,
  Volleyball,
  X,
} from 'lucide-react';

function icon(Svg: LucideIcon) {
  return function Icon({ className, ...rest }: LucideProps) {
    return (
      <Svg
        aria-hidden="true"
        focusable="false"
        className={className ? `icon ${className}` : 'icon'}
        {...rest}
      />
    );
  };
}

export const AttachIcon = icon(Paperclip);
export const EmojiIcon = icon(Smile);
export const BackIcon = icon(ArrowLeft);
export const CloseIcon = icon(X);
export const SaveIcon = icon(Download);
export const ScrollDownIcon = icon(ArrowDown);
export const VerifiedIcon = icon(Check);
export const WarningIcon = icon(TriangleAlert);
export const PhotoIcon = icon(Camera);
export const SendIcon = icon(SendHorizontal);
export const SafetyIcon = icon(ShieldCheck);
export const BlockIcon = icon(Ban);

/** Delivery states of an outgoing message (DeliveryMark). */
export const QueuedIcon = icon(Clock);
export const SendingIcon = icon(Ellipsis);
export const SentIcon = icon(Check);
export const DeliveredIcon = icon(CheckCheck);
export const FailedIcon = icon(CircleAlert);

/** The emoji picker's category tabs (Emojibase groups). */
export const RecentIcon = icon(Clock);
export const SmileysIcon = icon(Smile);
export const PeopleIcon = icon(Hand);
export const AnimalsIcon = icon(Cat);
export const FoodIcon = icon(Apple);
export const TravelIcon = icon(Plane);
export const ActivitiesIcon = icon(Volleyball);
export const ObjectsIcon = icon(Lightbulb);
export const SymbolsIcon = icon(Shapes);
export const FlagsIcon = icon(Flag);
